package interceptors

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// orderTotalBody is the payload of message nr of the sender at port: its number first,
// padded to size bytes.
func orderTotalBody(port int32, nr uint32, size int) string {
	head := fmt.Sprintf("%03d:%06d:", port, nr)
	return head + string(bytes.Repeat([]byte{'x'}, size-len(head)))
}

// orderTotalNumbers returns, per sender port, the numbers of the messages delivered, in
// delivery order.
func orderTotalNumbers(t *testing.T, got []*channel.Message) map[int32][]uint32 {
	t.Helper()
	out := map[int32][]uint32{}
	for _, m := range got {
		var port int32
		var nr uint32
		if _, err := fmt.Sscanf(string(m.Data[:11]), "%03d:%06d:", &port, &nr); err != nil {
			t.Fatalf("delivered %.16q...: %v", m.Data, err)
		}
		if port != m.Source.Port {
			t.Fatalf("message of sender %d delivered as from %d", port, m.Source.Port)
		}
		out[port] = append(out[port], nr)
	}
	return out
}

// Each sender's queue is bounded (MaxQueue, MaxQueueBytes), but nothing bounded what all
// of them held together: 100 members each with a gap held up to 64 MiB each, 6.4 GB. Now
// MaxHeldBytes caps the queues of all senders together (their bytes plus 256 a message):
// when they reach it the sender holding the most has its queue released in order, the
// gaps skipped, as when its own queue fills. Nothing is lost: what was released comes up
// in order, the gap's message comes late, and what follows is delivered in order.
func TestOrderBoundsHeldAllSenders(t *testing.T) {
	const (
		senders = 8
		per     = 40   // each sender's messages 2..per+1: number 1 is the gap
		size    = 1024 // bytes each
		maxHeld = 64 << 10
	)
	o := newOrder(t, OrderConfig{MaxHeldBytes: maxHeld, Expire: time.Hour})
	n := newNode(t, channeltest.NewNetwork(), o)
	src := func(i int) channel.Member { return fakeMember(int32(10 + i)) }
	inject := func(i int, nr uint32) {
		t.Helper()
		m := src(i)
		if err := n.tap.inject(orderedMsg(m, nr, orderTotalBody(m.Port, nr, size))); err != nil {
			t.Fatal(err)
		}
	}
	peak, peakHeld := 0, 0
	for k := range per {
		for i := range senders {
			inject(i, uint32(k+2))
			st := o.Stats()
			peak, peakHeld = max(peak, st.WaitingSize), max(peakHeld, st.HeldBytes)
		}
	}
	st := o.Stats()
	if peak >= maxHeld || peakHeld >= maxHeld {
		t.Fatalf("%d senders each holding %d messages of %d bytes: up to %d bytes waiting (%d counted), want under MaxHeldBytes %d; stats %+v",
			senders, per, size, peak, peakHeld, maxHeld, st)
	}
	if st.HeldFlush == 0 || st.QueueFlush != 0 {
		t.Fatalf("stats %+v: want the all-senders cap (HeldFlush) reached, no sender's own queue full", st)
	}
	// The gaps are filled, then each sender sends more.
	for i := range senders {
		inject(i, 1)
	}
	for nr := uint32(per + 2); nr < per+6; nr++ {
		for i := range senders {
			inject(i, nr)
		}
	}
	if st := o.Stats(); st.Waiting != 0 || st.WaitingSize != 0 || st.HeldBytes != 0 {
		t.Fatalf("stats %+v: nothing should wait once every gap is filled", st)
	}
	nrs := orderTotalNumbers(t, n.messages())
	for i := range senders {
		got := nrs[src(i).Port]
		// 1 comes late where the sender's queue was released before it; the others in order.
		if j := slices.Index(got, 1); j < 0 || slices.Index(got[j+1:], 1) >= 0 {
			t.Fatalf("sender %d: delivered %v, want 1 exactly once", i, got)
		}
		rest := slices.DeleteFunc(slices.Clone(got), func(nr uint32) bool { return nr == 1 })
		for k, nr := range rest {
			if nr != uint32(k+2) {
				t.Fatalf("sender %d: delivered %v, want 2..%d in order (1 anywhere)", i, got, per+5)
			}
		}
		if len(rest) != per+4 {
			t.Fatalf("sender %d: delivered %v, want 2..%d in order", i, got, per+5)
		}
	}
}

// Senders' messages arriving at once, on a goroutine each, keep the all-senders cap
// without a deadlock between a receipt that releases another sender's queue and that
// sender's own receipts, and every message is delivered once, each sender's in order.
func TestOrderBoundsHeldAllSendersConcurrently(t *testing.T) {
	const (
		senders = 6
		per     = 300
		size    = 512
		maxHeld = 32 << 10
	)
	o := newOrder(t, OrderConfig{MaxHeldBytes: maxHeld, Expire: time.Hour})
	n := newNode(t, channeltest.NewNetwork(), o)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		m := fakeMember(int32(40 + i))
		wg.Go(func() {
			for nr := uint32(2); nr < per+2; nr++ {
				if err := n.tap.inject(orderedMsg(m, nr, orderTotalBody(m.Port, nr, size))); err != nil {
					errs <- err
					return
				}
			}
			errs <- n.tap.inject(orderedMsg(m, 1, orderTotalBody(m.Port, 1, size)))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := o.Stats()
	if st.Waiting != 0 || st.HeldBytes != 0 || st.HeldFlush == 0 {
		t.Fatalf("stats %+v: want nothing waiting at the end, and the cap reached on the way", st)
	}
	nrs := orderTotalNumbers(t, n.messages())
	for i := range senders {
		got := nrs[int32(40+i)]
		rest := slices.DeleteFunc(slices.Clone(got), func(nr uint32) bool { return nr == 1 })
		if len(got) != per+1 || len(rest) != per {
			t.Fatalf("sender %d: %d delivered (%d besides 1), want %d", i, len(got), len(rest), per+1)
		}
		for k, nr := range rest {
			if nr != uint32(k+2) {
				t.Fatalf("sender %d: delivered %v out of order", i, got)
			}
		}
	}
}
