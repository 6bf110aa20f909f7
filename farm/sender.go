package farm

import "github.com/gotribes/tribes/channel"

// sender returns who sent a message from src, and false for a sender that is not a
// member: the same check as the channel's own sender check (channel.Config.AcceptNonMembers).
// A member the membership lists under src's key is its record; a member listed without a
// unique id (host:port: node.Config.StaticMembers, membership/static) stands for whichever
// node runs at its address, which is then src itself, with its id
// (TestMemberListedByAddressMaySend); the local member is src too.
func (d *Deployer) sender(src channel.Member) (channel.Member, bool) {
	if src.Key() == d.cfg.Channel.LocalMember().Key() {
		return src, true
	}
	rec, ok := channel.ListedAs(d.cfg.Channel.Member, src)
	if ok && rec.UniqueID == (channel.UniqueID{}) && src.UniqueID != (channel.UniqueID{}) {
		return src, true // listed by address: src is the node there, with its id
	}
	return rec, ok
}
