package channel_test

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TestNilListenersIgnored: a nil listener (a variable left unset) passed to
// AddMessageListener or AddMembershipListener is ignored. It was registered as it was,
// so the next membership event dereferenced it and crashed the process (in Start for a
// static member, on a membership goroutine for the others), and every received message
// panicked in delivery (recovered by the transport as a FAIL_ACK, failing the messages of
// every other listener too). So is a nil function or pointer of any listener type
// (objects.Func(nil), a *T left unset).
func TestNilListenersIgnored(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var chans []*channel.Channel
	got := make(chan string, 1)
	for i := range 2 {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
		if err != nil {
			t.Fatal(err)
		}
		var ml channel.MessageListener
		var bl channel.MembershipListener
		var fn channel.MessageListenerFunc
		var own ownFunc                // a function type of the application's (as objects.Func)
		var ptr *ownMembers            // a pointer listener left unset
		ch.AddMessageListener(ml)()    // removing an ignored listener is a no-op
		ch.AddMessageListener(ml)      // nil interface
		ch.AddMessageListener(fn)      // nil function
		ch.AddMessageListener(own)     // nil function of another type
		ch.AddMembershipListener(bl)   // nil interface
		ch.AddMembershipListener(bl)() // removing is a no-op
		ch.AddMembershipListener(ptr)  // nil pointer
		if i == 1 {
			ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
				got <- string(m.Data)
				return nil
			}))
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("Start panicked on a nil membership listener: %v", p)
				}
			}()
			if err := ch.Start(ctx, channel.SvcAll); err != nil {
				t.Fatal(err)
			}
		}()
		t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
		chans = append(chans, ch)
	}
	if err := chans[0].WaitForMembers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := chans[0].Send(ctx, chans[0].Members(), []byte("hi"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatalf("sync-ack send to a node with nil listeners registered: %v", err)
	}
	if m := <-got; m != "hi" {
		t.Fatalf("received %q", m)
	}
}

// ownFunc is a listener function type as an application or objects.Func declares one.
type ownFunc func(*channel.Message) error

func (f ownFunc) Accept(*channel.Message) bool             { return true }
func (f ownFunc) MessageReceived(m *channel.Message) error { return f(m) }

// ownMembers is a pointer membership listener.
type ownMembers struct{ n int }

func (o *ownMembers) MemberAdded(channel.Member)       { o.n++ }
func (o *ownMembers) MemberDisappeared(channel.Member) { o.n-- }
