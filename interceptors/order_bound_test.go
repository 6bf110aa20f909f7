package interceptors

import (
	"bytes"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
)

// One sender (a member, or anyone writing a member's address and id in its frames) can
// make Order hold what it sends for Expire by leaving a gap before it. With Tomcat's
// maxQueue (Integer.MAX_VALUE) that was every message it sent within Expire, bounded by
// nothing; now at most MaxQueue messages (4096) and MaxQueueBytes (64 MiB) of them wait,
// then all are delivered in order, the gaps skipped.
func TestOrderBoundsHeldPerSender(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, size   int
		maxCount  int
		maxBytes  int
		minFlushs uint64
	}{
		{"count", 10000, 8, DefaultOrderMaxQueue, DefaultOrderMaxQueueBytes, 2},
		{"bytes", 200, 1 << 20, DefaultOrderMaxQueueBytes >> 20, DefaultOrderMaxQueueBytes, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Expire far off: on a loaded machine injecting 200 MiB took longer than the
			// default 3 s, and expiry, not the bounds, released what waited.
			o := newOrder(t, OrderConfig{Expire: time.Hour})
			n := newNode(t, channeltest.NewNetwork(), o)
			src := fakeMember(1)
			pad := string(bytes.Repeat([]byte{'x'}, tc.size-8))
			peak, peakBytes := 0, 0
			for i := range tc.n { // 2, 4, 6, ...: each one's predecessor never comes
				if err := n.tap.inject(orderedMsg(src, uint32(2*(i+1)), fmt.Sprintf("%08d", i)+pad)); err != nil {
					t.Fatal(err)
				}
				st := o.Stats()
				peak, peakBytes = max(peak, st.Waiting), max(peakBytes, st.WaitingSize)
			}
			st := o.Stats()
			if peak >= tc.maxCount || peakBytes >= tc.maxBytes {
				t.Fatalf("%d messages of %d bytes with gaps: up to %d (%d bytes) waiting, want fewer than %d (%d bytes)",
					tc.n, tc.size, peak, peakBytes, tc.maxCount, tc.maxBytes)
			}
			if st.QueueFlush < tc.minFlushs {
				t.Fatalf("%d queue flushes, want at least %d; stats %+v", st.QueueFlush, tc.minFlushs, st)
			}
			// What was released came up in order, nothing lost.
			got := n.messages()
			if len(got)+st.Waiting != tc.n {
				t.Fatalf("%d delivered + %d waiting, want %d", len(got), st.Waiting, tc.n)
			}
			for i, m := range got {
				if want := fmt.Sprintf("%08d", i) + pad; string(m.Data) != want {
					t.Fatalf("delivered message %d is %.8q... (%d bytes), want %.8q... (%d bytes)", i, m.Data, len(m.Data), want, len(want))
				}
			}
		})
	}
}

// With DropExpired, a message that waited longer than Expire is dropped, also when the
// receipt that finds it expired is the one that fills the sender's queue (MaxQueue): the
// queue's release delivered it before expiry was looked at.
func TestOrderQueueFullStillDropsExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		o := newOrder(t, OrderConfig{DropExpired: true, MaxQueue: 2})
		n := newNode(t, nw, o)
		startNodes(t, n)
		src := fakeMember(9)
		// 1 and 2 never come; 3 waits from t=0, 4 arrives at t=3.1 s and fills the queue.
		if err := n.tap.inject(orderedMsg(src, 3, "3")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3100 * time.Millisecond)
		if err := n.tap.inject(orderedMsg(src, 4, "4")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		got := n.payloads()
		if len(got) != 1 || string(got[0]) != "4" {
			t.Fatalf("delivered %q, want [4]: 3 waited longer than Expire (3 s) and is dropped with DropExpired; stats %+v", got, o.Stats())
		}
		if st := o.Stats(); st.Dropped != 1 || st.Waiting != 0 {
			t.Fatalf("stats %+v, want 1 dropped and none waiting", st)
		}
	})
}
