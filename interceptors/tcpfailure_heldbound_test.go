package interceptors

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestFailureDetectorHeldMessagesStayBoundedWhileAListenerBlocks: while a message listener
// blocked for ever on a message held behind its member's announcement, every time the
// member was dropped (a failed check) and a message of it came again, the message listed
// the member again: a new set of held messages, a goroutine waiting for the earlier set,
// and the member's addition and removal queued behind the blocked removal, without bound.
// A member now has at most MaxHeldSets sets of held messages and at most MaxHeldMessages
// messages in each: a message beyond is dropped, counted and refused with ErrHeldLimit,
// and lists nobody. Once the listener returns, it sees a consistent story: the member's
// messages between its additions and removals, in the order they came.
func TestFailureDetectorHeldMessagesStayBoundedWhileAListenerBlocks(t *testing.T) {
	const cycles = 40
	d := newTestDetector(newAliveSet()) // B never answers the check
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	hold, held, open := holdOnce()
	a.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if string(m.Data) == "x0" {
			hold() // until the cycles are over
		}
		return nil
	}))
	mbStart(t, a, b)
	t.Cleanup(open) // before the nodes stop
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	k := b.expected(2).Key()
	res := make(chan error, cycles+1)
	send := func(i int) {
		go func() {
			res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: fmt.Appendf(nil, "x%d", i)})
		}()
	}
	listed := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, ok := d.view[k]
		return ok
	}
	send(0)
	waitClosed(t, held, "x0 did not go up")
	for i := 1; i <= cycles; i++ {
		dropHeard(t, d, b)
		dropped := d.Stats().HeldDropped
		send(i)
		testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("x%d listed B or was dropped", i), func() bool {
			return listed() || d.Stats().HeldDropped > dropped
		})
		d.mu.Lock()
		sets, pending := d.heldSets[k], d.events.Len()
		d.mu.Unlock()
		if sets > 4 || pending > 3*4+2 { // DefaultMaxHeldSets is 4: an addition, its mark and a removal each
			t.Fatalf("cycle %d: %d sets of B's messages held, %d events pending: unbounded", i, sets, pending)
		}
	}
	if n := d.Stats().HeldDropped; n == 0 {
		t.Fatal("no message dropped after the cap")
	}
	open()
	var refused int
	for range cycles + 1 {
		if err := <-res; err != nil {
			if !errors.Is(err, ErrHeldLimit) {
				t.Errorf("MessageReceived: %v, want nil or an error wrapping ErrHeldLimit", err)
			}
			refused++
		}
	}
	if uint64(refused) != d.Stats().HeldDropped {
		t.Errorf("%d messages refused, %d counted as dropped", refused, d.Stats().HeldDropped)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == cycles+1-refused
	})
	// The story: additions and removals alternate, B's messages only while it is listed,
	// and in the order they came.
	p := fmt.Sprint(b.port())
	in := false
	for i, e := range a.orderLog() {
		switch {
		case e == "+"+p && !in, e == "-"+p && in:
			in = !in
		case e == "msg:"+p && in:
		default:
			t.Fatalf("entry %d (%s) of %v breaks the story", i, e, a.orderLog())
		}
	}
	if in {
		t.Error("B's last removal did not go up")
	}
	var got []string
	for _, m := range a.received() {
		got = append(got, string(m.Data))
	}
	if !slices.IsSortedFunc(got, func(x, y string) int {
		var i, j int
		fmt.Sscanf(strings.TrimPrefix(x, "x"), "%d", &i)
		fmt.Sscanf(strings.TrimPrefix(y, "x"), "%d", &j)
		return i - j
	}) {
		t.Errorf("delivered %v, not in the order they came", got)
	}
	if _, ok := d.Member(k); ok {
		t.Error("the detector lists B after its last removal went up")
	}
}

// TestFailureDetectorHeldMessagesOfOneListingStayBounded: a member listed on its message
// holds at most MaxHeldMessages (256) of its messages behind the one a message listener
// blocks on; the others are dropped, counted and refused with ErrHeldLimit, and those
// held go up in order once the listener returns.
func TestFailureDetectorHeldMessagesOfOneListingStayBounded(t *testing.T) {
	const sent = 300
	d := newTestDetector(newAliveSet()) // B never answers the check
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	hold, held, open := holdOnce()
	a.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if string(m.Data) == "x0" {
			hold()
		}
		return nil
	}))
	mbStart(t, a, b)
	t.Cleanup(open)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	res := make(chan error, sent+1)
	receive := func(i int) error {
		return d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: fmt.Appendf(nil, "x%d", i)})
	}
	go func() { res <- receive(0) }()
	waitClosed(t, held, "x0 did not go up")
	for i := 1; i <= sent; i++ { // one at a time, so that they are held in this order
		n := len(heldData(d, b.expected(2).Key()))
		go func() { res <- receive(i) }()
		testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("x%d held or dropped", i), func() bool {
			if i <= DefaultMaxHeldMessages {
				return len(heldData(d, b.expected(2).Key())) > n
			}
			return d.Stats().HeldDropped == uint64(i-DefaultMaxHeldMessages)
		})
	}
	if got := len(heldData(d, b.expected(2).Key())); got != DefaultMaxHeldMessages {
		t.Errorf("%d messages held, want %d", got, DefaultMaxHeldMessages)
	}
	open()
	refused := 0
	for range sent + 1 {
		if err := <-res; errors.Is(err, ErrHeldLimit) {
			refused++
		} else if err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	if refused != sent-DefaultMaxHeldMessages || d.Stats().HeldDropped != uint64(refused) {
		t.Errorf("%d refused, %d counted, want %d", refused, d.Stats().HeldDropped, sent-DefaultMaxHeldMessages)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == DefaultMaxHeldMessages+1
	})
	for i, m := range a.received() {
		if want := fmt.Sprintf("x%d", i); string(m.Data) != want {
			t.Fatalf("message %d is %s, want %s", i, m.Data, want)
		}
	}
}

// TestFailureDetectorHeldDropsLoggedAtPowersOfTwo: MessageReceived's doc says a message
// dropped over the caps on held messages is logged the first time, then every power of
// two, so that a member flooding a blocked listener cannot flood the log: 40 drops give 6
// warnings (1, 2, 4, 8, 16, 32), all 40 counted.
func TestFailureDetectorHeldDropsLoggedAtPowersOfTwo(t *testing.T) {
	const over = 40
	var log syncLog
	d := must(NewTCPFailureDetector(TCPFailureDetectorConfig{Probe: newAliveSet().probe, // B never answers
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))}))
	nw := channeltest.NewNetwork()
	a := mbNew(t, nw, mbOpt{id: 1}, d)
	b := mbNew(t, nw, mbOpt{id: 2})
	hold, held, open := holdOnce()
	a.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if string(m.Data) == "x0" {
			hold()
		}
		return nil
	}))
	mbStart(t, a, b)
	t.Cleanup(open)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B checked, not answering", func() bool {
		return d.Settled() && d.Stats().AddSuspects == 1
	})
	res := make(chan error, DefaultMaxHeldMessages+over+1)
	receive := func(i int) {
		res <- d.MessageReceived(&channel.Message{Source: b.ch.LocalMember(), Data: fmt.Appendf(nil, "x%d", i)})
	}
	go receive(0)
	waitClosed(t, held, "x0 did not go up")
	for i := 1; i <= DefaultMaxHeldMessages+over; i++ {
		go receive(i)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the messages over the cap dropped", func() bool {
		return d.Stats().HeldDropped == over && len(heldData(d, b.expected(2).Key())) == DefaultMaxHeldMessages
	})
	got := 0 // results read; the refused ones returned once their drop was logged
	for refused := 0; refused < over; got++ {
		if err := <-res; errors.Is(err, ErrHeldLimit) {
			refused++
		} else if err != nil {
			t.Fatalf("MessageReceived: %v", err)
		}
	}
	log.mu.Lock()
	var dropped []int
	for _, line := range strings.Split(log.b.String(), "\n") {
		if strings.Contains(line, "held messages are at their cap") {
			_, n, _ := strings.Cut(line, " dropped=")
			i, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			dropped = append(dropped, i)
		}
	}
	log.mu.Unlock()
	slices.Sort(dropped) // concurrent drops log in any order
	if want := []int{1, 2, 4, 8, 16, 32}; !slices.Equal(dropped, want) {
		t.Errorf("drops logged at counts %v, want %v", dropped, want)
	}
	open()
	for ; got < DefaultMaxHeldMessages+over+1; got++ {
		if err := <-res; err != nil {
			t.Errorf("MessageReceived: %v", err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the detector settled", func() bool {
		return d.Settled() && len(a.received()) == DefaultMaxHeldMessages+1
	})
}
