package replmap

import "github.com/gotribes/tribes/channel"

// memberStarted handles a member's MSG_START (its map is ready for the map's messages):
// a new map member is added (mapMemberAdded), and in a lazy map the entries this node
// shares with mb's earlier map are handed out anew. A map that sends MSG_START holds no
// value: its state transfer gives it proxies only, replacing a backup it took before
// its Start, and a map is the primary of nothing before its Start returns. So mb is a
// new map on a node whose earlier one this node still took for a map member (its
// MSG_STOP lost: a node killed and restarted with its member identity, which the
// membership never dropped), or a map that became a backup between its New and its
// Start:
//   - the primaries that name mb as their backup already are published anew, in full:
//     without the value, mb could apply no diff, and the entry would be lost with this
//     node (TestRestartedBackupGetsEntriesAgain). They are read before mb is added: the
//     entries without a backup that a new member gets then are not sent twice
//     (TestJoinerGetsAnEntryWithoutBackupOnce);
//   - the entries this node backs up for mb's earlier map are taken over as if mb had
//     left (memberGone: published with this node as primary, MadePrimary called): mb's
//     new map names itself their primary without their value, this node holds the only
//     one, and the value was lost once this node left
//     (TestRestartedPrimaryBackupTakesOver).
//
// A replicated map's joiner takes the values with the state. A MSG_START naming a node
// the channel does not list changes nothing: a stranger makes this node neither
// republish nor take over (TestStrangerStartTakesNothingOver).
func (m *Map) memberStarted(mb channel.Member) {
	cm, ok := m.cfg.Channel.Member(mb.Key())
	if !ok { // a joiner not listed yet is answered, and added once listed (leftOver)
		m.log.Debug("replmap: MSG_START from a node that is not a channel member", "map", m.cfg.Name, "member", mb.String())
		return
	}
	mb = cm
	var stale, orphaned []string
	if !m.cfg.Replicated {
		local := m.cfg.Channel.LocalMember()
		m.mu.Lock()
		for k, e := range m.entries {
			switch {
			case e.role == rolePrimary && indexOf(e.nodes, mb) >= 0:
				stale = append(stale, k)
			case e.role == roleBackup && same(e.primary, mb) && only(e.nodes, local):
				orphaned = append(orphaned, k)
			}
		}
		m.mu.Unlock()
	}
	m.mapMemberAdded(mb)
	m.republish(stale)
	if len(orphaned) > 0 {
		m.log.Info("replmap: map member restarted; taking over the entries backed up for it", "map", m.cfg.Name,
			"member", mb.String(), "entries", len(orphaned))
		m.republish(orphaned)
		m.madePrimary(orphaned)
	}
}
