package static_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// TestListenerPanicLeavesTheRestToTheWaiter: a listener that panics panics the call
// delivering its event (here Add, whose caller recovers); an Add waiting meanwhile for its
// own event, queued behind, then delivers it and returns nil instead of waiting for ever
// (callq's takeover), and the service goes on delivering events in order.
func TestListenerPanicLeavesTheRestToTheWaiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		local, _ := wire.ParseMemberText("127.0.0.1:4000")
		bm, _ := wire.ParseMemberText("127.0.0.1:4001")
		cm, _ := wire.ParseMemberText("127.0.0.1:4002")
		dm, _ := wire.ParseMemberText("127.0.0.1:4003")
		s := static.New()
		rec := &recorder{}
		entered, release := make(chan struct{}), make(chan struct{})
		l := channel.MembershipFuncs{Added: func(m channel.Member) {
			rec.add("+" + m.Addr())
			if m.Port == bm.Port {
				close(entered)
				<-release
				panic("listener")
			}
		}}
		if err := s.Start(context.Background(), channel.SvcMembership, local, l); err != nil {
			t.Fatal(err)
		}
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			_ = s.Add(context.Background(), bm)
		}()
		<-entered
		waited := make(chan error, 1)
		go func() { waited <- s.Add(context.Background(), cm) }()
		synctest.Wait() // cm's Add waits behind the held listener
		close(release)
		if r := <-panicked; r == nil {
			t.Fatal("the listener's panic did not come out of the Add delivering its event")
		}
		if err := <-waited; err != nil {
			t.Fatalf("Add waiting behind the listener that panicked: %v, want nil", err)
		}
		if err := s.Add(context.Background(), dm); err != nil {
			t.Fatal(err)
		}
		want := []string{"+" + bm.Addr(), "+" + cm.Addr(), "+" + dm.Addr()}
		if got := rec.events(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("events %v, want %v", got, want)
		}
		if len(s.Members()) != 3 {
			t.Fatalf("members %v, want the three added", s.Members())
		}
	})
}
