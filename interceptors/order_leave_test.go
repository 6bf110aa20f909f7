package interceptors

import (
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// Where the channel checks senders (its default), the messages a member's disappearance
// releases reach the listeners: they came from a member, and waited only for earlier
// ones. They were dropped as a non-member's (Stats().NonMemberDropped), since the
// membership no longer lists the member when it tells of its disappearance; and so were
// those a Stop of every level released, the membership stopping first.
func TestOrderReleasedByDisappearanceDelivered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave func(t *testing.T, a, b *tnode)
	}{
		{"member gone", func(t *testing.T, a, b *tnode) {
			if err := a.ch.Stop(t.Context(), channel.SvcAll); err != nil {
				t.Fatal(err)
			}
		}},
		{"receiver's Stop of every level", func(t *testing.T, a, b *tnode) {
			if err := b.ch.Stop(t.Context(), channel.SvcAll); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			o := newOrder(t, OrderConfig{})
			a, b := newCheckingNode(t, nw), newCheckingNode(t, nw, o)
			startNodes(t, a, b)
			for _, nr := range []uint32{3, 2} {
				if err := b.tap.inject(orderedMsg(a.member(), nr, fmt.Sprint("a", nr))); err != nil {
					t.Fatal(err)
				}
			}
			if st := o.Stats(); st.Waiting != 2 {
				t.Fatalf("stats %+v, want a's 2 messages waiting", st)
			}
			tc.leave(t, a, b)
			if got := fmt.Sprintf("%s", b.payloads()); got != "[a2 a3]" {
				t.Fatalf("delivered %s, want [a2 a3]; channel stats %+v", got, b.ch.Stats())
			}
			if st := b.ch.Stats(); st.NonMemberDropped != 0 {
				t.Fatalf("channel stats %+v, want nothing dropped", st)
			}
			if _, ok := b.ch.Member(a.member().Key()); ok {
				t.Fatal("a is still a member once its messages are delivered")
			}
		})
	}
}
