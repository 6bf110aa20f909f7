package replmap

import "github.com/gotribes/tribes/channel"

// memberStarted handles a member's MSG_START (its map is ready for the map's messages):
// a new map member is added (mapMemberAdded), and a lazy map's primaries that name mb
// as their backup already are published anew, in full. A map that sends MSG_START holds
// no value this node gave it: its state transfer gives it proxies only, replacing a
// backup it took before its Start. So mb is a new map on a node whose earlier one this
// node still took for a map member (its MSG_STOP lost: a node killed and restarted with
// its member identity, which the membership never dropped), or a map that became a
// backup between its New and its Start; without the value, it could apply no diff, and
// the entry would be lost with this node (TestRestartedBackupGetsEntriesAgain). They
// are read before mb is added: the entries without a backup that a new member gets then
// are not sent twice (TestJoinerGetsAnEntryWithoutBackupOnce). A replicated map's
// joiner takes the values with the state.
func (m *Map) memberStarted(mb channel.Member) {
	var stale []string
	if !m.cfg.Replicated {
		m.mu.Lock()
		for k, e := range m.entries {
			if e.role == rolePrimary && indexOf(e.nodes, mb) >= 0 {
				stale = append(stale, k)
			}
		}
		m.mu.Unlock()
	}
	m.mapMemberAdded(mb)
	m.republish(stale)
}
