package interceptors

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestMemberOfAStaticMembershipAboveIsAMember: the channel takes a member that a
// StaticMembership interceptor above the others lists (the layers below do not) for a
// member; so do the interceptors below it that check senders (fragmentation, order,
// two-phase commit, compression), which asked only the layers below them, and so
// refused a static member's pieces as a stranger's or left its messages unordered.
func TestMemberOfAStaticMembershipAboveIsAMember(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 100)
	for _, tc := range []struct {
		name string
		mk   func() channel.Interceptor
	}{
		{"fragmentation", func() channel.Interceptor {
			return must(NewFragmentation(FragmentationConfig{MaxSize: 256}))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			b := mbNew(t, nw, mbOpt{id: 2, membership: noMembership}, tc.mk())
			a := mbNew(t, nw, mbOpt{id: 1, membership: noMembership, senderCheck: true}, staticOf(b.expected(2)), tc.mk())
			mbStart(t, a, b)
			for range 3 {
				if err := b.ch.Send(context.Background(), []channel.Member{a.ch.LocalMember()}, payload, 0); err != nil {
					t.Fatal(err)
				}
			}
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the static member's messages delivered", func() bool {
				return len(a.received()) == 3
			})
			for _, m := range a.received() {
				if !bytes.Equal(m.Data, payload) {
					t.Fatalf("delivered %d bytes, want the %d sent", len(m.Data), len(payload))
				}
			}
		})
	}
}

// TestOrderOrdersAStaticMemberAbove: Order below a StaticMembership orders the messages
// of a member only that interceptor lists, as a member's (they were passed up at once,
// out of order, as a stranger's).
func TestOrderOrdersAStaticMemberAbove(t *testing.T) {
	nw := channeltest.NewNetwork()
	o := newOrder(t, OrderConfig{})
	static := strangerMember(1) // listed by no membership service: only by the interceptor
	n := newCheckingNode(t, nw, staticOf(static), o)
	startNodes(t, n)
	if err := n.tap.inject(orderedMsg(static, 2, "2")); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Waiting != 1 || st.NonMember != 0 {
		t.Fatalf("the static member's message numbered 2 before 1: %d waiting, %d passed up as a non-member's; want 1, 0",
			st.Waiting, st.NonMember)
	}
	if err := n.tap.inject(orderedMsg(static, 1, "1")); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s", n.payloads()); got != "[1 2]" {
		t.Fatalf("the static member's messages delivered as %s, want [1 2]", got)
	}
}
