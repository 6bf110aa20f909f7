package replmap_test

import (
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// dropStop is an interceptor that, while armed, drops the map's MSG_STOP messages it
// receives: their sender's restart goes unnoticed, as when a node killed and restarted
// keeps its member identity (static membership) and the membership never dropped it.
type dropStop struct {
	channel.InterceptorBase
	armed   atomic.Bool
	dropped atomic.Int32
}

const msgStop = 7 // Java's MSG_STOP

func (d *dropStop) MessageReceived(msg *channel.Message) error {
	if d.armed.Load() && replmap.MessageType(msg.Data) == msgStop {
		d.dropped.Add(1)
		return nil
	}
	return d.InterceptorBase.MessageReceived(msg)
}

// armedHold holds, once armed, the next state transfer reply it receives (holdState's:
// an RPC reply carrying an ArrayList; a plain map message with a list value passes).
type armedHold struct {
	holdState
	armed atomic.Bool
}

func (h *armedHold) MessageReceived(msg *channel.Message) error {
	if !h.armed.Load() || replmap.MessageType(msg.Data) >= 0 {
		return h.InterceptorBase.MessageReceived(msg)
	}
	return h.holdState.MessageReceived(msg)
}

// A backup whose map restarts without its primary hearing of it (its MSG_STOP lost:
// the primary still lists it as a map member and the backup of its entry) gets the
// entry again in full when its new map sends MSG_START, so that it serves the value,
// with a change the primary replicated while it joined, once the primary leaves.
// Before, the new map held the entry as a proxy from the state transfer, naming itself
// as the backup; the primary, taking it for the backup still, sent it diffs it could
// not apply, and when the primary left, no node held the value.
func TestRestartedBackupGetsEntriesAgain(t *testing.T) {
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck}
	drop := &dropStop{}
	h := &armedHold{holdState: holdState{held: make(chan struct{})}}
	a := newChannel(t, nw, drop)
	b := newChannel(t, nw, h)
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
	if drop.dropped.Load() == 0 || len(a.m.Members()) != 1 {
		t.Fatalf("the primary's map members after the backup's lost MSG_STOP: %v (dropped %d), want the backup still",
			a.m.Members(), drop.dropped.Load())
	}
	drop.armed.Store(false)

	// The backup's new map, on the same channel: its state reply is held while the
	// primary replicates a change.
	h.armed.Store(true)
	restarted := &node{ch: b.ch, tn: b.tn}
	newMap(t, restarted, cfg)
	done := make(chan error, 1)
	go func() { done <- restarted.m.Start(ctx(t)) }()
	select {
	case <-h.held:
	case err := <-done:
		t.Fatalf("Start returned %v before the state reply came", err)
	}
	v.Add("b")
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Errorf("the primary's Replicate while the backup's new map joined: %v", err)
	}
	if err := h.release(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitItems(t, restarted, "k", "a", "b")

	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	n, ok := get(t, restarted, "k").(*mapnotes.Notes)
	if !ok || !slices.Equal(n.Items(), []string{"a", "b"}) {
		t.Fatalf("the restarted backup's get after the primary left = %#v, want the notes a, b", get(t, restarted, "k"))
	}
}

// countBackups is an interceptor that counts the MSG_BACKUP messages it receives.
type countBackups struct {
	channel.InterceptorBase
	n atomic.Int32
}

const msgBackup = 1 // Java's MSG_BACKUP

func (c *countBackups) MessageReceived(msg *channel.Message) error {
	if replmap.MessageType(msg.Data) == msgBackup {
		c.n.Add(1)
	}
	return c.InterceptorBase.MessageReceived(msg)
}

// A member joining a node that holds an entry without a backup gets it once: its
// MSG_START makes it a map member, which publishes the entry to it, and the entry then
// naming it as the backup is not published again (as it would be for a map member that
// was listed before: TestRestartedBackupGetsEntriesAgain).
func TestJoinerGetsAnEntryWithoutBackupOnce(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := newChannel(t, nw)
	newMap(t, a, replmap.Config{})
	start(t, a)
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil { // no map member: no backup yet
		t.Fatal(err)
	}
	count := &countBackups{}
	j := newChannel(t, nw, count)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(j.ch.Members()) == 1 })
	newMap(t, j, replmap.Config{})
	start(t, j)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the joiner backs k up", func() bool { return replmap.Held(j.m, "k") == "v" })
	if got := count.n.Load(); got != 1 {
		t.Errorf("the joiner received %d MSG_BACKUP, want 1", got)
	}
}
