package interceptors

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// checkOrderHeld fails unless what Order counts against MaxHeldBytes is exactly what waits:
// its bytes plus orderEntryCost each.
func checkOrderHeld(t *testing.T, o *Order, when string) OrderStats {
	t.Helper()
	st := o.Stats()
	if want := st.WaitingSize + orderEntryCost*st.Waiting; st.HeldBytes != want {
		t.Fatalf("%s: HeldBytes %d, want %d (%d waiting, %d bytes); stats %+v", when, st.HeldBytes, want, st.Waiting, st.WaitingSize, st)
	}
	return st
}

// orderAccountCase is one way out of Order's queues: run injects messages that wait and
// then lets them out; want is what the node delivers, by sender.
type orderAccountCase struct {
	name string
	cfg  OrderConfig
	run  func(t *testing.T, o *Order, n *tnode, inject func(src channel.Member, nr uint32))
	want string
}

// What a waiting message counts against MaxHeldBytes is uncounted on every way out of the
// queue: delivery once the gap fills, expiry on a receipt or a heartbeat (delivered or
// dropped), a sender's full queue, all senders' full queues, the sender's removal and the
// channel's Stop. Stop delivered nothing: the messages waiting when the receiver stopped
// stayed, counted, never delivered, since no receipt or heartbeat came to release them.
func TestOrderHeldBytesReturnToZero(t *testing.T) {
	a, b := fakeMember(1), fakeMember(2)
	for _, tc := range []orderAccountCase{
		{name: "delivery", run: func(t *testing.T, o *Order, n *tnode, inject func(channel.Member, uint32)) {
			inject(a, 3)
			inject(a, 2)
			inject(a, 1)
		}, want: "map[a:[a1 a2 a3]]"},
		{name: "expiry on a receipt", run: func(t *testing.T, o *Order, n *tnode, inject func(channel.Member, uint32)) {
			inject(a, 3)
			time.Sleep(DefaultOrderExpire + time.Second)
			inject(a, 5) // 3 expired: released, 5 waits for 4
			inject(a, 4)
		}, want: "map[a:[a3 a4 a5]]"},
		{name: "expiry on a heartbeat", run: func(t *testing.T, o *Order, n *tnode, inject func(channel.Member, uint32)) {
			inject(a, 3)
			inject(b, 2)
			time.Sleep(DefaultOrderExpire + time.Second)
			n.ch.Heartbeat()
		}, want: "map[a:[a3] b:[b2]]"},
		{name: "expiry dropped", cfg: OrderConfig{DropExpired: true}, run: func(t *testing.T, o *Order, n *tnode, inject func(channel.Member, uint32)) {
			inject(a, 3)
			time.Sleep(DefaultOrderExpire + time.Second)
			n.ch.Heartbeat()
		}, want: "map[]"},
		{name: "sender's queue full", cfg: OrderConfig{MaxQueue: 2}, run: func(t *testing.T, o *Order, n *tnode, inject func(channel.Member, uint32)) {
			inject(a, 3)
			inject(a, 5)
		}, want: "map[a:[a3 a5]]"},
		{name: "all senders' queues full", cfg: OrderConfig{MaxHeldBytes: 3 * (orderEntryCost + 2)}, run: func(t *testing.T, o *Order, n *tnode, inject func(channel.Member, uint32)) {
			inject(a, 2)
			inject(a, 3)
			inject(b, 2) // the third: a's queue, the larger, is released
			if st := o.Stats(); st.HeldFlush != 1 || st.Waiting != 1 {
				t.Fatalf("stats %+v, want one release and b's message waiting", st)
			}
			inject(b, 1)
		}, want: "map[a:[a2 a3] b:[b1 b2]]"},
		{name: "member removal", run: func(t *testing.T, o *Order, n *tnode, inject func(channel.Member, uint32)) {
			inject(a, 3)
			inject(a, 4)
			o.MemberDisappeared(a)
		}, want: "map[a:[a3 a4]]"},
		{name: "stop", run: func(t *testing.T, o *Order, n *tnode, inject func(channel.Member, uint32)) {
			inject(a, 3)
			inject(a, 4)
			inject(b, 2)
			if err := n.ch.Stop(t.Context(), channel.SvcAll); err != nil {
				t.Fatal(err)
			}
		}, want: "map[a:[a3 a4] b:[b2]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := tc.cfg
				if cfg.MaxHeldBytes == 0 {
					cfg.MaxHeldBytes = 1 << 20
				}
				o := newOrder(t, cfg)
				n := newNode(t, channeltest.NewNetwork(), o)
				startNodes(t, n)
				names := map[int32]string{a.Port: "a", b.Port: "b"}
				inject := func(src channel.Member, nr uint32) {
					t.Helper()
					body := fmt.Sprintf("%s%d", names[src.Port], nr)
					if err := n.tap.inject(orderedMsg(src, nr, body)); err != nil {
						t.Fatal(err)
					}
					checkOrderHeld(t, o, "after "+body)
				}
				tc.run(t, o, n, inject)
				synctest.Wait()
				// Each sender's in its order (senders' releases on a heartbeat or Stop come in
				// any order).
				bySender := map[string][]string{}
				for _, p := range n.payloads() {
					bySender[string(p[:1])] = append(bySender[string(p[:1])], string(p))
				}
				if got := fmt.Sprint(bySender); got != tc.want {
					t.Fatalf("delivered %s, want %s; stats %+v", got, tc.want, o.Stats())
				}
				if st := checkOrderHeld(t, o, "at the end"); st.Waiting != 0 || st.HeldBytes != 0 {
					t.Fatalf("stats %+v, want nothing waiting nor counted", st)
				}
			})
		})
	}
}
