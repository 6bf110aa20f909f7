package farm

import "github.com/gotribes/tribes/channel"

// sender returns who sent a message from src, and false for a sender that is not a
// member: the same check as the channel's own sender check (channel.Config.AcceptNonMembers).
// A member the membership lists under src's key is its record; a member listed without a
// unique id (host:port: node.Config.StaticMembers, membership/static) stands for whichever
// node runs at its address, which is then src itself, with its id
// (TestMemberListedByAddressMaySend); the local member is src too.
func (d *Deployer) sender(src channel.Member) (channel.Member, bool) {
	k := src.Key()
	if m, ok := d.cfg.Channel.Member(k); ok {
		return m, true
	}
	if k == d.cfg.Channel.LocalMember().Key() {
		return src, true
	}
	if src.UniqueID == (channel.UniqueID{}) {
		return channel.Member{}, false
	}
	if _, ok := d.cfg.Channel.Member(channel.Member{Host: src.Host, Port: src.Port}.Key()); ok {
		return src, true
	}
	return channel.Member{}, false
}
