package interceptors

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TestStaticMembershipLookupAllocatesNothing: the channel's member check (Channel.Member,
// once or twice per received message) through the StaticMembership interceptor is a map
// lookup that allocates nothing, for a listed member and for a stranger, which it asks the
// membership below about (docs/security.md).
func TestStaticMembershipLookupAllocatesNothing(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := mbNew(t, nw, mbOpt{id: 2, membership: noMembership})
	sm := staticOf(b.expected(2))
	a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership}, sm)
	if err := a.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mbStop(t, a) })
	stranger := b.expected(2)
	stranger.Port++
	for _, c := range []struct {
		name string
		key  channel.MemberKey
		want bool
	}{{"a listed member", b.expected(2).Key(), true}, {"a stranger", stranger.Key(), false}} {
		if _, ok := a.ch.Member(c.key); ok != c.want {
			t.Fatalf("Member(%s) found %v, want %v", c.name, ok, c.want)
		}
		if n := testing.AllocsPerRun(100, func() { sm.Member(c.key) }); n != 0 {
			t.Errorf("StaticMembership.Member(%s): %v allocations", c.name, n)
		}
	}
}
