package interceptors

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// A node that joins while orderMaxStrangers invented senders hold the strangers' states
// gets none while it is not a member: its messages then are passed up unordered and
// dropped by the channel, and their numbers are used up. Once it is a member, its next
// message is numbered past them: it was held for the numbers before it, which never come
// (Expire, 3 s, with every later message behind it; dropped with DropExpired). It is now
// delivered at once, as when the joiner had a state of its own.
func TestOrderJoinerPastTheStrangersCapInStep(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("DropExpired=%v", drop), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			o := newOrder(t, OrderConfig{DropExpired: drop})
			n, joiner, list := startUnlistedJoiner(t, nw, o)
			for i := range orderMaxStrangers {
				if err := n.tap.inject(orderedMsg(strangerMember(i), 1, "forged")); !errors.Is(err, channel.ErrNotMember) {
					t.Fatalf("message of stranger %d: %v, want ErrNotMember", i, err)
				}
			}
			for nr := uint32(1); nr <= 3; nr++ {
				if err := n.tap.inject(orderedMsg(joiner.member(), nr, "early")); !errors.Is(err, channel.ErrNotMember) {
					t.Fatalf("a joiner's message before it is a member: %v, want ErrNotMember", err)
				}
			}
			list()
			for _, nr := range []uint32{4, 6, 5} {
				if err := n.tap.inject(orderedMsg(joiner.member(), nr, fmt.Sprint(nr))); err != nil {
					t.Fatal(err)
				}
			}
			if got := fmt.Sprintf("%s", n.payloads()); got != "[4 5 6]" {
				t.Fatalf("the joiner's messages once a member: delivered %s, want [4 5 6] at once, in order", got)
			}
		})
	}
}
