package interceptors

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestOrderMessageHeldOnAStoppedReceiverIsReleased: a Start of the receiver that fails
// below Order releases what waits only if something did when it looked (anyHeld), and a
// Stop's release runs once; a message that came after that (a receive goroutine's
// delivery the transport's Stop did not wait for) and waited for an earlier one stayed
// held on the stopped receiver, with no receipt, heartbeat or release to come, until the
// receiver started again. A message that would wait once the receiver stopped (a Stop,
// or a Start that failed) is now released at once, as the Stop's release would have:
// delivered, the gap skipped, nothing left waiting, and the sender in step once the
// receiver started again.
func TestOrderMessageHeldOnAStoppedReceiverIsReleased(t *testing.T) {
	for _, failed := range []bool{false, true} {
		t.Run(map[bool]string{false: "stopped", true: "failed start"}[failed], func(t *testing.T) {
			o := newOrder(t, OrderConfig{})
			f := &failNextStart{}
			n := newNode(t, channeltest.NewNetwork(), o, f)
			startNodes(t, n)
			ctx := within(t, testutil.WaitLimit)
			if err := n.ch.Stop(ctx, channel.SvcAll); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			testutil.EventuallyTrue(t, testutil.WaitLimit, "the Stop's release ran", o.releases.Idle)
			if failed {
				f.armed.Store(true)
				if err := n.ch.Start(ctx, channel.SvcAll); !errors.Is(err, errStartRefused) {
					t.Fatalf("Start: %v, want %v", err, errStartRefused)
				}
				testutil.EventuallyTrue(t, testutil.WaitLimit, "the failed Start's releases ran", o.releases.Idle)
			}
			if err := n.tap.inject(orderedMsg(fakeMember(1), 2, "a2")); err != nil { // 1 never comes
				t.Fatal(err)
			}
			testutil.Eventually(t, testutil.WaitLimit, func() error {
				if got := fmt.Sprintf("%s", n.payloads()); got != "[a2]" {
					return fmt.Errorf("delivered %s on the stopped receiver, want [a2] (stats %+v)", got, o.Stats())
				}
				return nil
			})
			if st := checkOrderHeld(t, o, "on the stopped receiver"); st.Waiting != 0 || st.Skipped != 1 {
				t.Fatalf("stats %+v, want nothing waiting and 1 skipped", st)
			}
			if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
				t.Fatalf("Start: %v", err)
			}
			if err := n.tap.inject(orderedMsg(fakeMember(1), 3, "a3")); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%s", n.payloads()); got != "[a2 a3]" {
				t.Fatalf("delivered %s once started again, want [a2 a3]: the sender in step", got)
			}
		})
	}
}
