package replmap_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

// flagValue is a value that records whether its node is its primary, as
// session/backup's Session does: MadePrimary sets it, Accessed clears it. Accessed waits,
// when its gate is armed, for the gate's release first.
type flagValue struct {
	name    string
	gate    *callGate
	mu      sync.Mutex
	primary bool
}

type callGate struct {
	armed                      atomic.Bool
	entered, release, returned chan struct{}
}

func (v *flagValue) AccessReplicate() bool { return true }
func (v *flagValue) Replicated(time.Time)  {}
func (v *flagValue) Accessed() {
	if v.gate != nil && v.gate.armed.CompareAndSwap(true, false) {
		close(v.gate.entered)
		<-v.gate.release
		defer close(v.gate.returned)
	}
	v.set(false)
}

func (v *flagValue) set(p bool) { v.mu.Lock(); v.primary = p; v.mu.Unlock() }
func (v *flagValue) get() bool  { v.mu.Lock(); defer v.mu.Unlock(); return v.primary }

// flagCodec sends a flagValue as its name; the values it decodes share its gate.
type flagCodec struct{ gate *callGate }

func (c flagCodec) Encode(v any) (any, error) { return v.(*flagValue).name, nil }
func (c flagCodec) Decode(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%T", v)
	}
	return &flagValue{name: s, gate: c.gate}, nil
}

// B backs up A's entry; A's MSG_ACCESS reaches it, and the value's Accessed (the
// application's: Tomcat's session is then not primary) takes a while; meanwhile A dies
// and B takes the entry over, MadePrimary marking the value primary. Before, MadePrimary
// returned first and the Accessed that followed left the value of the entry B is the
// primary of saying it is not. Now Accessed returns first, and the value says primary.
func TestAccessedAndMadePrimaryInOrder(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newChannel(t, nw), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	gate := &callGate{entered: make(chan struct{}), release: make(chan struct{}), returned: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(gate.release)
		}
	}()
	var made atomic.Int32
	newMap(t, a, replmap.Config{SendOptions: syncAck, Values: flagCodec{}})
	newMap(t, b, replmap.Config{SendOptions: syncAck, Values: flagCodec{gate: gate},
		MadePrimary: func(_ context.Context, _, v any) {
			v.(*flagValue).set(true)
			made.Add(1)
		}})
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := a.m.Put(ctx(t), "k", &flagValue{name: "v", primary: true}); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B backs k up", func() bool {
		_, primary, ok := b.m.Peek("k")
		return ok && !primary
	})

	gate.armed.Store(true)
	go func() { _ = a.m.Replicate(context.Background(), "k", false) }() // MSG_ACCESS
	select {
	case <-gate.entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("B's value was not told of A's access")
	}
	nw.Kill(a.tn)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B takes k over", func() bool {
		_, primary, ok := b.m.Peek("k")
		return ok && primary
	})
	close(gate.release)
	released = true
	select {
	case <-gate.returned:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Accessed has not returned")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "MadePrimary called", func() bool { return made.Load() == 1 })
	v, primary, _ := b.m.Peek("k")
	if fv := v.(*flagValue); primary && !fv.get() {
		t.Error("B is the primary of k, and its value says it is not (Accessed came after MadePrimary)")
	}
}
