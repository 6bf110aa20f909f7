package replmap

import (
	"errors"
	"log/slog"
	"slices"

	"github.com/gotribes/tribes/channel"
)

// A departure's pass that steps aside for a member that took the entry over while it
// published it (republishKey) may have turned that member's new backup into a proxy: its
// MSG_PROXY, naming the local node the primary, reached that backup after the member's
// MSG_BACKUP, and a MSG_PROXY drops the value. Only the member that took the entry over
// knows the value it holds now (a Replicate may have changed it), so the pass asks it to
// send the value again: a plain (not RPC) MSG_RETRIEVE_BACKUP naming it the primary and,
// as its backup nodes, those the pass's MSG_PROXY reached. Java sends MSG_RETRIEVE_BACKUP
// only as an RPC and ignores it as a plain message (its messageReceived has no case for
// it), as a Go node did before: the message changes nothing on either.

// resendAsked handles a plain MSG_RETRIEVE_BACKUP from from: when it names the local
// node the primary of an entry the node is the primary of, and some of its backup nodes,
// the entry's next Replicate is made to send the value in full, and one is run on a
// goroutine of its own (a pass, which Stop waits for), so that the receiving goroutine
// sends nothing. A request for a key whose resend is pending is dropped: that resend
// reads the entry after it.
func (m *Map) resendAsked(mm *message, from channel.Member) {
	k := string(mm.Key)
	local := m.cfg.Channel.LocalMember()
	m.mu.Lock()
	e := m.entries[k]
	if e == nil || mm.Primary == nil || !same(mm.Primary, local) || m.state != stateInitialized {
		m.mu.Unlock()
		return
	}
	if e.role == rolePrimary && same(e.passOf, from) {
		// from's pass stepped aside for the local Put and sends nothing more of the key:
		// the Put's mark goes (kept.go).
		m.forgetKeptLocked(k, e)
	}
	// A proxy that from's MSG_PROXY made of the local Put's primary, its value kept, is
	// the primary again (kept.go).
	if !m.restoreLocked(k, e, from) && (e.role != rolePrimary ||
		!slices.ContainsFunc(mm.Nodes, func(n channel.Member) bool { return indexOf(e.nodes, n) >= 0 })) {
		m.mu.Unlock()
		return
	}
	if _, pending := m.resending[k]; pending {
		m.mu.Unlock()
		return
	}
	if m.resending == nil {
		m.resending = make(map[string]struct{})
	}
	m.resending[k] = struct{}{}
	e.failed++ // the value in full: the backup nodes named may hold none
	key, ctx := e.key, m.life
	m.beginPassLocked()
	m.mu.Unlock()
	go func() {
		defer m.endPass()
		m.mu.Lock()
		delete(m.resending, k)
		m.mu.Unlock()
		if err := m.Replicate(ctx, key, false); err != nil && !errors.Is(err, ErrNotStarted) && ctx.Err() == nil {
			// Rate-limited per asking member: the requests come from other members.
			m.rlog.Log(slog.LevelWarn, from.String(), "resend", "replmap: send again an entry a member's pass stepped aside for",
				"map", m.cfg.Name, "from", from.String(), "err", err)
		}
	}()
}
