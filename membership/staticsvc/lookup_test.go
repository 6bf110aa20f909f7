package staticsvc_test

import (
	"testing"

	"github.com/gotribes/tribes/channel"
)

// TestMemberLookupAllocatesNothing: the channel's member check (Channel.Member, once or
// twice per received message) is a map lookup in the view that allocates nothing, for a
// member and for a stranger (docs/security.md).
func TestMemberLookupAllocatesNothing(t *testing.T) {
	ns := startTrio(t)
	member := ns[1].ch.LocalMember()
	stranger := member
	stranger.Port++
	for _, c := range []struct {
		name string
		key  channel.MemberKey
		want bool
	}{{"a member", member.Key(), true}, {"a stranger", stranger.Key(), false}} {
		if _, ok := ns[0].svc.Member(c.key); ok != c.want {
			t.Fatalf("Member(%s) found %v, want %v", c.name, ok, c.want)
		}
		if a := testing.AllocsPerRun(100, func() { ns[0].svc.Member(c.key) }); a != 0 {
			t.Errorf("Member(%s): %v allocations", c.name, a)
		}
	}
}
