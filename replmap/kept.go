package replmap

import (
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
)

// A Put on a node w while the departure pass of another member a republishes the key
// (a's backup left; the pass read a's entry before w's Put reached a): the pass's
// MSG_PROXY, naming a the primary, may reach w after w stored its entry, and a MSG_PROXY
// drops the value it finds. w's backup, reached after w's MSG_BACKUP, drops it too: no
// node then held the value the Put returned nil for. The MSG_PROXY is the same one a
// Get on a's proxy sends when it takes the entry over from w, which w must obey; w
// cannot tell them apart when it comes. So w, whose Put replaced an entry naming a its
// primary and a departed backup node (entry.passOf), keeps the value a MSG_PROXY from a
// drops (entry.kept), counted in its stored bytes, and gives it up on the next message
// of the key, when a local call takes the entry, or when the heartbeat finds it kept
// for longer than AccessTimeout; the heartbeat also clears a mark older than that,
// whose MSG_PROXY never came. A lazy map's only: a replicated map's pass sends
// MSG_NOTIFY_MAPMEMBER (republish.go). a's pass, which then finds its entry taken over by
// w's Put, steps aside and asks w to send its value again (resend.go): w's proxy still
// naming a, with a kept value, is w's primary again, and its Replicate in full gives
// its backup nodes the value again (TestPutOnAThirdNodeDuringTheDeparturePass). A Get's
// takeover is never followed by such a request, and its MSG_PROXY is obeyed as before.

// passOfLocked returns the member whose departure pass may still republish the entry
// e, which a local Put replaces (passOf): e's primary when it is another map member and
// one of e's backup nodes left the map; nil otherwise. m.mu held.
func (m *Map) passOfLocked(e *entry) *channel.Member {
	if m.cfg.Replicated || e == nil || e.role == rolePrimary || e.primary == nil || same(e.primary, m.cfg.Channel.LocalMember()) ||
		indexOf(m.members, *e.primary) < 0 || !m.departed(e.nodes) {
		return nil
	}
	p := *e.primary
	return &p
}

// markedLocked notes the time e, the entry under k that a local Put just stored, got
// its passOf (none: nothing to note), for the heartbeat (dropOldKept). m.mu held.
func (m *Map) markedLocked(k string, e *entry) {
	if e.passOf == nil {
		return
	}
	if m.keptSince == nil {
		m.keptSince = make(map[string]time.Time)
	}
	m.keptSince[k] = time.Now()
}

// keepsLocked reports whether mm, from from, is a MSG_PROXY that makes e, the local
// primary a Put stored while from's departure pass may run, a proxy: e keeps its value
// then (update). m.mu held.
func keepsLocked(e *entry, mm *message, from channel.Member) bool {
	return mm.Type == msgProxy && e != nil && e.role == rolePrimary && e.value != nil &&
		e.passOf != nil && same(e.passOf, from) && same(mm.Primary, from)
}

// keepLocked makes e, the entry under k, keep its value and backup nodes as they are
// (keepsLocked), before a MSG_PROXY makes it a proxy. m.mu held.
func (m *Map) keepLocked(k string, e *entry) {
	e.kept, e.keptNodes, e.passOf = e.value, slices.Clone(e.nodes), nil
	if m.keptSince == nil {
		m.keptSince = make(map[string]time.Time)
	}
	m.keptSince[k] = time.Now()
}

// forgetKeptLocked drops the value e, the entry under k, kept (none: nothing to do), and
// its passOf. m.mu held.
func (m *Map) forgetKeptLocked(k string, e *entry) {
	if e == nil || e.passOf == nil && e.kept == nil {
		return
	}
	delete(m.keptSince, k)
	e.passOf = nil
	if e.kept == nil {
		return
	}
	e.kept, e.keptNodes = nil, nil
	if e.role == roleProxy {
		e.vbytes = 0
		m.account(k, e)
	}
}

// restoreLocked makes e, the entry under k, the local primary again with the value it
// kept, when from, whose MSG_PROXY made it a proxy, asks the node to send the value
// again naming it the primary (resendAsked), and reports whether it did. m.mu held.
func (m *Map) restoreLocked(k string, e *entry, from channel.Member) bool {
	if e.role != roleProxy || e.kept == nil || !same(e.primary, from) {
		return false
	}
	e.value, e.role, e.primary, e.nodes = e.kept, rolePrimary, m.local(), e.keptNodes
	e.kept, e.keptNodes = nil, nil
	delete(m.keptSince, k)
	m.account(k, e)
	return true
}

// dropOldKept drops the values kept, and the marks made, longer than AccessTimeout
// before now (the heartbeat's).
func (m *Map) dropOldKept(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, since := range m.keptSince {
		if now.Sub(since) > m.cfg.AccessTimeout {
			delete(m.keptSince, k)
			m.forgetKeptLocked(k, m.entries[k])
		}
	}
}
