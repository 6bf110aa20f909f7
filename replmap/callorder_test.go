package replmap_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// primaries is what an application learns from a map's calls: the keys its node is the
// primary of, added by MadePrimary and dropped by Removed.
type primaries struct {
	mu   sync.Mutex
	keys map[any]bool
	// entered, when set, is told of a MadePrimary call, which then waits for release
	// before it records its key (an application's callback waiting for a lock of its
	// own).
	entered, release chan struct{}
	removed          chan struct{} // closed by the first Removed call
	once             sync.Once
}

func (p *primaries) made(_ context.Context, key, _ any) {
	if p.entered != nil {
		p.entered <- struct{}{}
		<-p.release
	}
	p.mu.Lock()
	p.keys[key] = true
	p.mu.Unlock()
}

func (p *primaries) drop(key, _ any) {
	p.mu.Lock()
	delete(p.keys, key)
	p.mu.Unlock()
	p.once.Do(func() { close(p.removed) })
}

func (p *primaries) has(key any) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[key]
}

// B's Get of the entry it backs up makes it the primary, and its MadePrimary call takes
// a while; meanwhile A removes the key, and B drops its entry. The map made the calls
// for the two changes concurrently, so that Removed returned first and the MadePrimary
// that followed left the application believing B the primary of a key no node holds any
// more. They are now made one at a time in the order of the changes: Removed after the
// MadePrimary under way, and the application holds no such key.
func TestMadePrimaryAndRemovedInOrder(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newChannel(t, nw), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	app := &primaries{keys: map[any]bool{}, entered: make(chan struct{}), release: make(chan struct{}),
		removed: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(app.release)
		}
	}()
	newMap(t, a, replmap.Config{SendOptions: syncAck})
	newMap(t, b, replmap.Config{SendOptions: syncAck, MadePrimary: app.made, Removed: app.drop})
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B backs k up", func() bool { return replmap.Held(b.m, "k") == "v" })

	got := make(chan error, 1)
	go func() {
		_, _, err := b.m.Get(ctx(t), "k")
		got <- err
	}()
	select {
	case <-app.entered: // B is the primary; its MadePrimary call waits
	case err := <-got:
		t.Fatalf("B's Get returned (%v) without calling MadePrimary", err)
	}
	if _, err := a.m.Remove(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B drops k", func() bool { return len(b.m.Keys()) == 0 })
	close(app.release)
	released = true
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	select {
	case <-app.removed:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Removed was not called")
	}
	if _, _, held := b.m.Peek("k"); !held && app.has("k") {
		t.Error("the application believes B the primary of k, which B no longer holds (Removed came before MadePrimary)")
	}
}
