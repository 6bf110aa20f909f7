package replmap

import (
	"log/slog"
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
// drops (entry.kept), counted in its stored bytes. A replicated map's pass sends
// MSG_NOTIFY_MAPMEMBER instead (republish.go): a lazy map's only.
//
// The kept value is given up (dropped) on the next message of the key (something newer
// replaced it there), when a local call takes the entry (Get, Put, Remove), or at Stop.
// It is not dropped for its age: a's request to send it again, however late, finds it
// (TestKeptValueOfAPutDemotedByAPassingPrimary). a's pass, which finds its entry taken
// over by w's Put, steps aside and asks w to send its value again (resend.go): w's proxy
// still naming a, with a kept value, is w's primary again, and its Replicate in full
// gives its backup nodes the value again (TestPutOnAThirdNodeDuringTheDeparturePass).
// When a leaves the map before asking (kept past a's departure: passGoneLocked), w is
// the primary again and publishes the value anew, when the MSG_PROXY that demoted it
// named backup nodes other than those of w's Put: a Get on a taking the entry over names
// those (the backup it asked), which then takes the entry over on a's departure and
// holds the value, and w drops its own
// (TestKeptValueRestoredWhenThePassingPrimaryLeaves). A Get's takeover is never followed
// by a request to send again, and its MSG_PROXY is obeyed as before.
//
// Memory: a kept value is the value of a Put of the node, held in place of that Put's
// entry, one per key, counted in Stats.Entries and Stats.StoredBytes. At most
// maxKeptValues values and maxKeptBytes bytes of values are kept at once: a MSG_PROXY
// that would keep more drops the value as before, logged rate-limited
// (TestKeptValuesBounded). A Put's mark is cleared when the pass ends as w sees it:
// on the pass's request to send again (resendAsked), when its node leaves the map
// (memberGone), and the pass's MSG_PROXY received during the Put, before its store,
// leaves none (Put) (TestPutMarkClearedWhenThePassEnds); the heartbeat clears one older
// than AccessTimeout whose MSG_PROXY never came.

// maxKeptValues and maxKeptBytes bound the values a map keeps (keepsLocked).
var (
	maxKeptValues       = 4096
	maxKeptBytes  int64 = 64 << 20
)

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
// then (update), unless the values kept are at their bound. m.mu held.
func (m *Map) keepsLocked(e *entry, mm *message, from channel.Member) bool {
	if mm.Type != msgProxy || e == nil || e.role != rolePrimary || e.value == nil ||
		e.passOf == nil || !same(e.passOf, from) || !same(mm.Primary, from) {
		return false
	}
	if m.keptCount >= maxKeptValues || m.keptBytes+e.vbytes > maxKeptBytes {
		m.rlog.Log(slog.LevelWarn, from.String(), "kept", "replmap: a value demoted by a departure pass's MSG_PROXY not kept: kept values at their bound",
			"map", m.cfg.Name, "kept", m.keptCount, "bytes", m.keptBytes)
		return false
	}
	return true
}

// keepLocked makes e, the entry under k, keep its value and backup nodes as they are
// (keepsLocked), before a MSG_PROXY makes it a proxy. m.mu held.
func (m *Map) keepLocked(k string, e *entry) {
	e.kept, e.keptNodes, e.keptStamp, e.passOf = e.value, slices.Clone(e.nodes), e.stamp, nil
	e.keptClock = e.clock
	m.keptCount++
	m.keptBytes += e.vbytes
	if m.keptSince == nil {
		m.keptSince = make(map[string]time.Time)
	}
	m.keptSince[k] = time.Now()
}

// unkeepLocked uncounts the value e keeps (none: nothing to do) and clears it, for an
// entry dropped or replaced. m.mu held.
func (m *Map) unkeepLocked(e *entry) {
	if e == nil || e.kept == nil {
		return
	}
	m.keptCount--
	m.keptBytes -= e.vbytes
	e.kept, e.keptNodes, e.keptStamp, e.keptClock = nil, nil, 0, 0
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
	m.unkeepLocked(e)
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
	e.value, e.role, e.primary, e.nodes, e.stamp, e.clock = e.kept, rolePrimary, m.local(), e.keptNodes, e.keptStamp, e.keptClock
	m.unkeepLocked(e)
	delete(m.keptSince, k)
	m.account(k, e)
	return true
}

// passGoneLocked handles e, the entry under k, when mb, a map member, left: when e is a
// proxy keeping a value (a Put of the node) that a MSG_PROXY from mb, its primary, made
// a proxy, and that MSG_PROXY named backup nodes other than the Put's (a departure pass
// of mb's, whose request to send the value again will never come), the entry is the
// local primary again with the kept value and no backup node, and passGoneLocked
// reports true: the caller publishes it anew. When it named the Put's backup nodes (a
// Get on mb may have taken the entry over from them, and the backup it asked takes it
// over on mb's departure), the kept value is dropped. m.mu held.
func (m *Map) passGoneLocked(k string, e *entry, mb channel.Member) bool {
	if e.role != roleProxy || e.kept == nil || !same(e.primary, mb) {
		return false
	}
	if sameNodes(e.nodes, e.keptNodes) {
		m.forgetKeptLocked(k, e)
		return false
	}
	e.value, e.role, e.primary, e.nodes, e.stamp, e.clock = e.kept, rolePrimary, m.local(), []channel.Member{}, e.keptStamp, e.keptClock
	m.unkeepLocked(e)
	delete(m.keptSince, k)
	m.account(k, e)
	return true
}

// supersededLocked handles mm, a message of e, the entry under k. When e is a
// proxy keeping the value of a local Put that a departure pass's MSG_PROXY demoted, and
// mm is a MSG_BACKUP in full or a MSG_PROXY naming another primary than the pass's node,
// with the stamp of the pass's value (e.stamp, which that MSG_PROXY carried: stamp.go),
// mm republishes the pass's value, older than the Put's: the pass's backup taking the
// entry over, having seen the pass's node leave before this node did (a killed node),
// or a Get there. Its message would drop the kept value, as any other member's message
// of the key does. Instead the entry is the local primary again with the kept value and
// no backup node, published anew on a goroutine of its own (a pass, which Stop waits
// for), whose messages make mm's sender a backup or a proxy of the Put's value
// (TestKeptValueRestoredWhenThePassBackupSeesThePassNodeGoneFirst); supersededLocked
// reports true and the caller applies nothing of mm. A newer write on another node
// carries a stamp of its own, and a Java node's message none: they drop the kept value
// as before. m.mu held.
//
// The entry remembers the older value's stamp (older): a later publish of it, from the
// same takeover publishing again, is ignored as well, and the entry published anew.
//
// The publish anew is abandoned when, reading the entry, it no longer finds the local
// primary of the value taken back (its stamp: republishKey's restored): another
// member's publish of the key with a stamp of its own, a newer write such as a third
// node's Put, reached the node first, and publishing the older value would override it
// (TestKeptValueRestoredThenAThirdNodesPutBeforeThePublishReadsTheEntry). A newer write
// that reaches the node's peers while the publish anew is under way is not seen here:
// its clock (stamp.go) is larger than the Put's the publish carries, and the peers do
// not apply the publish (TestKeptValueRestoredCrossedInFlightByAThirdNodesPutKeepsIt);
// with clocks unknown (the newer write a Java node's), or that Put naming this node its
// backup (whose publishes olderLocked applies as a takeover's), its value is lost.
func (m *Map) supersededLocked(k string, e *entry, mm *message) bool {
	if e == nil || mm.Stamp == 0 || mm.Type != msgBackup && mm.Type != msgProxy || mm.Diff || mm.Primary == nil ||
		same(mm.Primary, m.cfg.Channel.LocalMember()) || m.state != stateInitialized {
		return false
	}
	switch {
	case e.role == rolePrimary && e.older == mm.Stamp:
	case e.role == roleProxy && e.kept != nil && e.stamp == mm.Stamp && e.primary != nil && !same(mm.Primary, *e.primary):
		e.value, e.role, e.primary, e.nodes = e.kept, rolePrimary, m.local(), []channel.Member{}
		e.older, e.stamp, e.clock = e.stamp, e.keptStamp, e.keptClock
		m.unkeepLocked(e)
		delete(m.keptSince, k)
		m.account(k, e)
	default:
		return false
	}
	ctx, from, restored := m.life, *mm.Primary, e.stamp
	m.beginPassLocked()
	go func() {
		defer m.endPass()
		if _, err := m.republishKey(ctx, k, false, false, nil, restored); err != nil && ctx.Err() == nil {
			m.rlog.Log(slog.LevelWarn, from.String(), "superseded", "replmap: publish anew a kept value an older one's takeover would drop",
				"map", m.cfg.Name, "from", from.String(), "err", err)
		}
	}()
	return true
}

// sameNodes reports whether a and b list the same members, in any order.
func sameNodes(a, b []channel.Member) bool {
	if len(a) != len(b) {
		return false
	}
	for _, n := range a {
		if indexOf(b, n) < 0 {
			return false
		}
	}
	return true
}

// dropOldKept clears the Put marks made longer than AccessTimeout before now (the
// heartbeat's): their MSG_PROXY never came. A value kept is not dropped for its age.
func (m *Map) dropOldKept(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, since := range m.keptSince {
		if e := m.entries[k]; (e == nil || e.kept == nil) && now.Sub(since) > m.cfg.AccessTimeout {
			delete(m.keptSince, k)
			m.forgetKeptLocked(k, e)
		}
	}
}
