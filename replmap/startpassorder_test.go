package replmap_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// holdFullBackup is an interceptor that, once armed, holds the next MSG_BACKUP carrying
// a value in full that it receives: the sender's goroutine waits in the delivery until
// release, the value marshalled before.
type holdFullBackup struct {
	channel.InterceptorBase
	armed   atomic.Bool
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (h *holdFullBackup) MessageReceived(msg *channel.Message) error {
	if h.armed.Load() && replmap.MessageType(msg.Data) == msgBackup && replmap.FullValue(msg.Data) {
		hold := false
		h.once.Do(func() { hold = true })
		if hold {
			close(h.held)
			<-h.release
		}
	}
	return h.InterceptorBase.MessageReceived(msg)
}

// The republish pass a backup's MSG_START makes its primary run reads the entry's value
// and sends it; a Replicate of a change made meanwhile, whose value in full reaches the
// backup first, is not undone by the pass's older value arriving after it: the pass
// sends the value again, so that the backup serves the change once the primary leaves.
// Before, the backup kept the pass's older value (TestRestartedBackupGetsEntriesAgain
// failed so now and then in a batch, the pass's goroutine delayed between its marshal
// and its send).
func TestStartPassOvertakenByReplicateSendsAgain(t *testing.T) {
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck}
	drop := &dropStop{}
	h := &armedHold{holdState: holdState{held: make(chan struct{})}}
	hb := &holdFullBackup{held: make(chan struct{}), release: make(chan struct{})}
	a := newChannel(t, nw, drop)
	b := newChannel(t, nw, h, hb)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
		newMap(t, n, cfg)
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	v := mapnotes.New("a")
	if _, err := a.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a")

	drop.armed.Store(true)
	if err := b.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	drop.armed.Store(false)

	h.armed.Store(true)
	hb.armed.Store(true)
	released := false
	defer func() {
		if !released {
			close(hb.release)
		}
	}()
	restarted := &node{ch: b.ch, tn: b.tn}
	newMap(t, restarted, cfg)
	done := make(chan error, 1)
	go func() { done <- restarted.m.Start(ctx(t)) }()
	for _, held := range []chan struct{}{h.held, hb.held} { // the state reply, the pass's value
		select {
		case <-held:
		case err := <-done:
			t.Fatalf("Start returned %v before the state reply and the pass's value came", err)
		}
	}
	v.Add("b") // after the pass marshalled the value
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatalf("the primary's Replicate while its pass's value was on its way: %v", err)
	}
	if err := h.release(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitItems(t, restarted, "k", "a", "b")
	released = true
	close(hb.release) // the pass's older value arrives last

	if err := a.m.Stop(ctx(t)); err != nil { // it waits for the pass
		t.Fatal(err)
	}
	n, ok := get(t, restarted, "k").(*mapnotes.Notes)
	if !ok || !slices.Equal(n.Items(), []string{"a", "b"}) {
		t.Fatalf("the restarted backup's get after the primary left = %#v, want the notes a, b", get(t, restarted, "k"))
	}
}
