package replmap

import "github.com/gotribes/tribes/channel"

// A map member leaves on its MSG_STOP, when the channel drops it, or when the heartbeat
// finds it silent or unreachable: memberDisappeared.

// memberDisappeared drops a map member: the local primaries it backed up get a new
// backup, proxies whose value no map member holds any more (their primary and backup
// nodes gone, in either order) are dropped, and the entries the local node backs up for
// it become local primaries with a new backup. In a replicated map the first of an
// entry's backup nodes still in the map takes over when its primary goes (Java: the
// first listed, which may have left before without the primary telling the others).
//
// While the state transfer runs, mb stops being a map member at once (no state request
// or backup goes to it) but its entries are handled only after the messages it sent
// before, queued meanwhile, are applied (TestStopDuringStateTransferAfterQueuedBackup).
func (m *Map) memberDisappeared(mb channel.Member) {
	m.mu.Lock()
	i := indexOf(m.members, mb)
	if i < 0 {
		m.mu.Unlock()
		return
	}
	m.members = append(m.members[:i:i], m.members[i+1:]...)
	delete(m.lastSeen, mb.Key())
	m.forgetStartPassLocked(mb)
	m.dropForwardsLocked(mb)
	if m.donorCancel != nil && m.donor == mb.Key() {
		m.donorCancel() // the state transfer asks the next member
	}
	if m.queuing {
		m.queue = append(m.queue, queued{left: &mb})
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.memberGone(mb)
}

// memberGone handles the entries of mb, a map member that left (memberDisappeared).
func (m *Map) memberGone(mb channel.Member) {
	local := m.cfg.Channel.LocalMember()
	m.mu.Lock()
	var relocate, promoted []string
	for k, e := range m.entries {
		if e.role == rolePrimary && same(e.passOf, mb) {
			m.forgetKeptLocked(k, e) // mb's pass sends nothing more: the Put's mark goes (kept.go)
		}
		if e.role == rolePrimary && (m.cfg.Replicated || indexOf(e.nodes, mb) >= 0) {
			relocate = append(relocate, k)
			continue
		}
		if m.passGoneLocked(k, e, mb) {
			// A Put's value a departure pass of mb's demoted, kept here: published anew.
			relocate = append(relocate, k)
			continue
		}
		if same(e.primary, mb) {
			e.primary = nil
			m.account(k, e)
		}
		switch {
		case e.primary != nil:
		case e.role == roleProxy && !m.anyMember(e.nodes):
			// Its primary is gone and so are its backup nodes: no node holds the value.
			m.drop(k)
		case e.role == roleBackup && only(e.nodes, local),
			e.role == roleCopy && m.firstRemaining(e.nodes, local):
			relocate = append(relocate, k)
			promoted = append(promoted, k)
		}
	}
	m.mu.Unlock()
	m.log.Info("replmap: map member left", "map", m.cfg.Name, "member", mb.String(), "relocated", len(relocate))
	m.gonePass(mb, relocate, promoted)
}

// madePrimary calls Config.MadePrimary for the entries of keys this node took over and
// holds as their primary.
func (m *Map) madePrimary(keys []string) {
	if m.cfg.MadePrimary == nil {
		return
	}
	for _, k := range keys {
		m.mu.Lock()
		if e := m.entries[k]; e != nil && e.role == rolePrimary && e.key != nil {
			key, value := e.key, e.value
			m.queueCallLocked(func() { m.cfg.MadePrimary(m.passCtx, key, value) })
		}
		m.mu.Unlock()
		m.deliver()
	}
}
