package replmap_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// Many goroutines of one node putting one key at once, each replicating it after each
// Put or not, on a cluster of 3: once they returned, the node is the key's primary with
// the value it holds, exactly one other node backs it up with that value, the third
// holds a proxy, and a Get there returns the value from the backup. Before, a Put's
// messages and another Put's or a Replicate's could leave in any order: the backup kept
// the value of a Put that the node had replaced since, or that of a Replicate of such a
// Put's entry, or no value at all (another Put's MSG_PROXY came last). Run it with -race.
func TestConcurrentPutsOfOneKeyConverge(t *testing.T) {
	for _, replicate := range []bool{false, true} {
		t.Run(fmt.Sprintf("replicate=%v", replicate), func(t *testing.T) { testConcurrentPuts(t, replicate) })
	}
}

func testConcurrentPuts(t *testing.T, replicate bool) {
	const goroutines, puts = 8, 25
	nodes := clusterConfig(t, channeltest.NewNetwork(), 3, replmap.Config{SendOptions: syncAck})
	a := nodes[0]
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*puts*2)
	for g := range goroutines {
		wg.Go(func() {
			for i := range puts {
				if _, err := a.m.Put(ctx(t), "k", fmt.Sprintf("v%d-%d", g, i)); err != nil {
					errs <- fmt.Errorf("put: %w", err)
				}
				if !replicate {
					continue
				}
				if err := a.m.Replicate(ctx(t), "k", true); err != nil {
					errs <- fmt.Errorf("replicate: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	last, primary, ok := a.m.Peek("k")
	if !ok || !primary {
		t.Fatalf("the putting node holds %#v (primary %v, held %v), want its last value as primary", last, primary, ok)
	}
	proxy := -1
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		backups, proxies := 0, 0
		for i, nd := range nodes[1:] {
			v, p, held := nd.m.Peek("k")
			switch {
			case p:
				return fmt.Errorf("node %d holds %#v as primary too", i+1, v)
			case held && v != last:
				return fmt.Errorf("node %d backs up %#v, want %#v", i+1, v, last)
			case held:
				backups++
			case len(nd.m.Keys()) != 1:
				return fmt.Errorf("node %d holds neither the value nor a proxy", i+1)
			default:
				proxies++
				proxy = i + 1
			}
		}
		if backups != 1 || proxies != 1 {
			return fmt.Errorf("%d backups and %d proxies, want 1 of each", backups, proxies)
		}
		return nil
	})
	if got := get(t, nodes[proxy], "k"); got != last {
		t.Fatalf("the proxy's Get = %#v, want %#v", got, last)
	}
}

// A Replicate of a Diffable whose diff left after a Put replaced the entry with another
// value: the backup applied the old value's diff to the new value, and held a change
// the primary's value has not. Now a Replicate whose entry a Put replaced before its
// message left sends nothing of it and replicates the new entry instead (its value in
// full, the Put having come during the Replicate).
func TestReplicateOfAReplacedEntrySendsNoStaleDiff(t *testing.T) {
	nw := channeltest.NewNetwork()
	v := &heldDiff{Notes: mapnotes.New("a"), entered: make(chan struct{}), release: make(chan struct{}),
		diffed: make(chan struct{})}
	a, b := newChannel(t, nw), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	newMap(t, a, replmap.Config{Values: heldDiffCodec{}, SendOptions: syncAck})
	newMap(t, b, replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck})
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := a.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a")

	v.Add("x") // not replicated yet
	v.armed.Store(true)
	replicated := make(chan error, 1)
	go func() { replicated <- a.m.Replicate(ctx(t), "k", false) }()
	select {
	case <-v.entered: // the Replicate read the entry and takes its Diff
	case err := <-replicated:
		t.Fatalf("Replicate returned (%v) without taking the Diff", err)
	}
	if _, err := a.m.Put(ctx(t), "k", mapnotes.New("b")); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "b")
	close(v.release)
	if err := <-replicated; err != nil {
		t.Fatal(err)
	}
	// Synchronized ACKs: what the Replicate sent is applied.
	if got, ok := replmap.Held(b.m, "k").(*mapnotes.Notes); !ok || !slices.Equal(got.Items(), []string{"b"}) {
		t.Errorf("the backup holds %#v after the Replicate of the replaced entry, want the notes [b]", replmap.Held(b.m, "k"))
	}
}

// heldEncode is a ValueCodec for strings whose Encode, once armed, waits for release
// (entered closed when it does).
type heldEncode struct {
	armed            *atomic.Bool
	entered, release chan struct{}
}

func (c heldEncode) Decode(v any) (any, error) { return v, nil }
func (c heldEncode) Encode(v any) (any, error) {
	if c.armed.CompareAndSwap(true, false) {
		close(c.entered)
		<-c.release
	}
	return v, nil
}

// A Replicate in full whose entry a Remove dropped before its message left: the backup
// made an entry of that message, and held the key as the backup of a primary that holds
// none, for good. Now such a Replicate sends nothing.
func TestReplicateOfARemovedEntrySendsNothing(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newChannel(t, nw), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	codec := heldEncode{armed: new(atomic.Bool), entered: make(chan struct{}), release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(codec.release)
		}
	}()
	newMap(t, a, replmap.Config{Values: codec, SendOptions: syncAck})
	newMap(t, b, replmap.Config{SendOptions: syncAck})
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B backs k up", func() bool { return replmap.Held(b.m, "k") == "v" })

	codec.armed.Store(true)
	replicated := make(chan error, 1)
	go func() { replicated <- a.m.Replicate(ctx(t), "k", true) }()
	select {
	case <-codec.entered: // the Replicate read the entry and marshals its value
	case err := <-replicated:
		t.Fatalf("Replicate returned (%v) without marshalling the value", err)
	}
	if _, err := a.m.Remove(ctx(t), "k"); err != nil {
		t.Fatal(err)
	}
	close(codec.release)
	released = true
	if err := <-replicated; err != nil {
		t.Fatal(err)
	}
	for i, n := range []*node{a, b} {
		if keys := n.m.Keys(); len(keys) != 0 {
			t.Errorf("node %d holds %v after the Remove and the Replicate, want nothing", i, keys)
		}
	}
}
