package interceptors

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
)

// BenchmarkOrderHeld receives held messages of one sender, each one's predecessor missing
// (2, 4, 6, ...), as a member (or a sender writing a member's address and id) can make
// Order hold them for Expire. Each receipt checks expiry: ns/msg must not grow with what
// is held already.
func BenchmarkOrderHeld(b *testing.B) {
	for _, held := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			msgs := 0
			for b.Loop() {
				b.StopTimer()
				o := newOrder(b, OrderConfig{MaxQueue: held + 1, Expire: time.Hour})
				n := newNode(b, channeltest.NewNetwork(), o)
				src := fakeMember(1)
				b.StartTimer()
				for i := range held {
					if err := n.tap.inject(orderedMsg(src, uint32(2*(i+1)), "x")); err != nil {
						b.Fatal(err)
					}
				}
				msgs += held
				if w := o.Stats().Waiting; w != held {
					b.Fatalf("%d waiting, want %d", w, held)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
		})
	}
}

// Expiry goes by arrival, not by number: a message that arrived first expires first and
// releases everything numbered up to it, also messages that arrived after it; one that
// arrived later waits its own Expire.
func TestOrderExpiresByArrival(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("dropExpired=%v", drop), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := newOrder(t, OrderConfig{Expire: 3 * time.Second, DropExpired: drop})
				n := newNode(t, channeltest.NewNetwork(), o)
				src := fakeMember(1)
				for _, nr := range []uint32{6, 4, 10, 8} { // one a second
					if err := n.tap.inject(orderedMsg(src, nr, fmt.Sprint(nr))); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Second)
				}
				// 4 s: 6 (at 0 s) expired; it releases 4 (at 1 s, fresh) with it.
				n.ch.Heartbeat()
				want := "[4 6]"
				if drop {
					want = "[4]"
				}
				if got := fmt.Sprintf("%s", n.payloads()); got != want {
					t.Fatalf("at 4 s: %s, want %s", got, want)
				}
				time.Sleep(500 * time.Millisecond)
				n.ch.Heartbeat() // 4.5 s: 4 is gone, 10 (at 2 s) and 8 (at 3 s) still fresh
				if got := fmt.Sprintf("%s", n.payloads()); got != want {
					t.Fatalf("at 4.5 s: %s, want %s", got, want)
				}
				time.Sleep(time.Second)
				n.ch.Heartbeat() // 5.5 s: 10 expired, releasing 8 with it
				want = "[4 6 8 10]"
				if drop {
					want = "[4 8]"
				}
				if got := fmt.Sprintf("%s", n.payloads()); got != want {
					t.Fatalf("at 5.5 s: %s, want %s", got, want)
				}
				if s := o.Stats(); s.Expired != 2 || s.Waiting != 0 || s.Skipped != 6 {
					t.Fatalf("stats %+v", s)
				}
			})
		})
	}
}
