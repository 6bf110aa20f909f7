package replmap

import "github.com/gotribes/tribes/channel"

// A member may be listed by address alone (host:port without a unique id:
// node.Config.StaticMembers, membership/static). Such a record stands for whichever node
// runs at its address, as in the channel's own sender check
// (channel.Config.AcceptNonMembers), package rpc and package farm. The map lists that node
// as its messages name it, with its id, so that it backs up to it and its entries name
// it as the other nodes' do; the channel's record (its departure, a heartbeat's
// unreachable member, a MSG_STOP's failed send) stands for the map members at its
// address (TestMembersListedByAddressShareAMap, TestMemberListedByAddressLeaves).

// channelMember returns the record to hold for mb, a node a message names (its sender,
// or the primary of a MSG_START, a reply or an entry), and false when the channel does
// not list it: the channel's record when it lists mb's key, mb itself when it lists mb's
// address without a unique id.
func (m *Map) channelMember(mb channel.Member) (channel.Member, bool) {
	rec, ok := channel.ListedAs(m.cfg.Channel.Member, mb)
	if ok && rec.UniqueID == (channel.UniqueID{}) && mb.UniqueID != (channel.UniqueID{}) {
		return mb, true // listed by address: mb is the node there, with its id
	}
	return rec, ok
}

// standsFor reports whether rec, a record of the channel, is node: the same key, or
// rec listed by address alone at node's address (an IPv4 host in either form).
func standsFor(rec, node channel.Member) bool {
	if rec.Key() == node.Key() {
		return true
	}
	return rec.UniqueID == (channel.UniqueID{}) &&
		channel.Member{Host: rec.Host, Port: rec.Port}.Key().Unmapped() == channel.Member{Host: node.Host, Port: node.Port}.Key().Unmapped()
}

// mapMembersOfLocked returns the map members rec, a record of the channel, stands for
// (standsFor). The caller holds m.mu.
func (m *Map) mapMembersOfLocked(rec channel.Member) []channel.Member {
	var out []channel.Member
	for _, mb := range m.members {
		if standsFor(rec, mb) {
			out = append(out, mb)
		}
	}
	return out
}

// mapMembersOf is mapMembersOfLocked taking m.mu; a record no map member matches
// stands for itself (a member that left meanwhile, or one whose map never ran).
func (m *Map) mapMembersOf(rec channel.Member) []channel.Member {
	m.mu.Lock()
	out := m.mapMembersOfLocked(rec)
	m.mu.Unlock()
	if len(out) == 0 {
		return []channel.Member{rec}
	}
	return out
}

// excludeListed returns the channel records of recs that stand for none of nodes
// (standsFor).
func excludeListed(recs, nodes []channel.Member) []channel.Member {
	var out []channel.Member
	for _, r := range recs {
		listed := false
		for _, n := range nodes {
			if standsFor(r, n) {
				listed = true
				break
			}
		}
		if !listed {
			out = append(out, r)
		}
	}
	return out
}
