package channel

import "github.com/gotribes/tribes/wire"

// Member is a node of the group. It is the wire record itself (see package wire): host,
// ports, unique id, domain, payload, alive time. Treat a Member as an immutable value.
type Member = wire.Member

// MemberKey is a comparable identity of a Member (host, port, unique id), for map keys.
type MemberKey = wire.MemberKey

// UniqueID is a member's 16-byte identity.
type UniqueID = wire.UniqueID

// ListedAs returns the record a membership holds for src, a message's sender, looked up
// with lookup: the record under src's key or, when src carries a unique id, a record
// listed at src's address without one (host:port: node.Config.StaticMembers,
// membership/static), which stands for whichever node runs there. It reports false
// when neither is listed. With the local member added, it is the channel's own sender
// check (Config.AcceptNonMembers), which packages rpc, farm, replmap and session/delta
// and the interceptors share.
func ListedAs(lookup func(MemberKey) (Member, bool), src Member) (Member, bool) {
	if rec, ok := lookup(src.Key()); ok {
		return rec, true
	}
	if src.UniqueID == (UniqueID{}) {
		return Member{}, false
	}
	return lookup(Member{Host: src.Host, Port: src.Port}.Key())
}
