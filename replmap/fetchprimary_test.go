package replmap_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

const msgStart = 6 // Java's MSG_START

// dropStartRequest is an interceptor that, while armed, drops the MSG_START requests it
// receives: the map takes nothing over on them, as Java's map does on the MSG_START of
// a member it lists (and it answers nothing: the sender's Start waits RPCTimeout).
type dropStartRequest struct {
	channel.InterceptorBase
	armed   atomic.Bool
	dropped atomic.Int32
}

func (d *dropStartRequest) MessageReceived(msg *channel.Message) error {
	if d.armed.Load() && replmap.RPCRequestType(msg.Data) == msgStart {
		d.dropped.Add(1)
		return nil
	}
	return d.InterceptorBase.MessageReceived(msg)
}

// restartPrimaryJavaLike puts k=v on a primary A backed up by B, restarts A's map without
// its MSG_STOP reaching B, B doing nothing on the new map's MSG_START (as a Java backup
// does: it lists A still), and returns A's new map, started with madePrimary, and B.
func restartPrimaryJavaLike(t *testing.T, madePrimary func(restarted *node) func(context.Context, any, any)) (restarted, b *node) {
	t.Helper()
	nw := channeltest.NewNetwork()
	stop, starts := &dropStop{}, &dropStartRequest{}
	a := newChannel(t, nw)
	b = newChannel(t, nw, stop, starts)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B backs k up", func() bool { return replmap.Held(b.m, "k") == "v" })

	stop.armed.Store(true)
	if err := a.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	stop.armed.Store(false)
	if stop.dropped.Load() == 0 || len(b.m.Members()) != 1 {
		t.Fatalf("B's map members after A's lost MSG_STOP: %v (dropped %d), want A still", b.m.Members(), stop.dropped.Load())
	}
	restarted = &node{ch: a.ch, tn: a.tn}
	starts.armed.Store(true)
	newMap(t, restarted, replmap.Config{SendOptions: syncAck, RPCTimeout: time.Second, MadePrimary: madePrimary(restarted)})
	start(t, restarted)
	if starts.dropped.Load() == 0 {
		t.Fatal("B got no MSG_START request to drop")
	}
	return restarted, b
}

// A primary whose map restarts without its backup hearing of it (its MSG_STOP lost), the
// backup doing nothing on its MSG_START as a Java backup does, asks the backup for the
// values of the entries its state names it the primary of, and holds them as their
// primary again (MadePrimary called): once the backup left, its Get returns the value.
// Before, it held proxies only, and the value left with the backup.
func TestRestartedPrimaryAsksJavaLikeBackup(t *testing.T) {
	var mu sync.Mutex
	var made []any
	restarted, b := restartPrimaryJavaLike(t, func(*node) func(context.Context, any, any) {
		return func(_ context.Context, key, _ any) {
			mu.Lock()
			defer mu.Unlock()
			made = append(made, key)
		}
	})
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the restarted map holds k", func() bool {
		return replmap.Held(restarted.m, "k") == "v"
	})
	local := restarted.ch.LocalMember()
	if p, ok := replmap.Primary(b.m, "k"); !ok || p.Key() != local.Key() || replmap.Held(b.m, "k") != "v" {
		t.Fatalf("B holds %#v with primary %v (%v), want v backed up for A", replmap.Held(b.m, "k"), p, ok)
	}

	if err := b.m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	waitMapMembers(t, []*node{restarted}, 0)
	if got := get(t, restarted, "k"); got != "v" {
		t.Fatalf("the restarted node's Get after B left = %#v, want v", got)
	}
	// The pass calls MadePrimary once it holds the value: Get may find it first.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the restarted map's MadePrimary call", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(made) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(made, []any{"k"}) {
		t.Errorf("the restarted map's MadePrimary calls: %v, want k once", made)
	}
}

// A Stop called, with its context, from the MadePrimary call of the pass that fetched a
// value the map's state named it the primary of returns ErrStopping alone, as from a
// departure's pass, and a later Stop returns nil.
func TestStopFromFetchMadePrimaryReturns(t *testing.T) {
	res := make(chan error, 1)
	restarted, _ := restartPrimaryJavaLike(t, func(restarted *node) func(context.Context, any, any) {
		return func(c context.Context, _, _ any) {
			c, cancel := context.WithTimeout(c, testutil.WaitLimit)
			defer cancel()
			res <- restarted.m.Stop(c)
		}
	})
	select {
	case err := <-res:
		if !errors.Is(err, replmap.ErrStopping) || err.Error() != replmap.ErrStopping.Error() {
			t.Errorf("Stop from MadePrimary with its context = %v, want ErrStopping alone", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Stop from MadePrimary has not returned")
	}
	if err := restarted.m.Stop(ctx(t)); err != nil {
		t.Errorf("a later Stop = %v", err)
	}
}
