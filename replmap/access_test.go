package replmap_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// accessValue is a value that replicates its use (replmap.AccessReplicated), sent as
// its name.
type accessValue struct {
	name string

	mu         sync.Mutex
	want       bool // what AccessReplicate reports
	accessed   int  // Accessed calls
	replicated int  // Replicated calls
}

func (v *accessValue) AccessReplicate() bool { v.mu.Lock(); defer v.mu.Unlock(); return v.want }
func (v *accessValue) Replicated(time.Time)  { v.mu.Lock(); v.replicated++; v.mu.Unlock() }
func (v *accessValue) Accessed()             { v.mu.Lock(); v.accessed++; v.mu.Unlock() }

func (v *accessValue) counts() (accessed, replicated int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.accessed, v.replicated
}

type accessCodec struct{}

func (accessCodec) Decode(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%T", v)
	}
	return &accessValue{name: s}, nil
}

func (accessCodec) Encode(v any) (any, error) { return v.(*accessValue).name, nil }

// madePrimary records the MadePrimary calls of one node.
type madePrimary struct {
	mu   sync.Mutex
	keys []any
}

func (p *madePrimary) add(_ context.Context, key, _ any) {
	p.mu.Lock()
	p.keys = append(p.keys, key)
	p.mu.Unlock()
}

func (p *madePrimary) count() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.keys) }

// Replicate of an unchanged AccessReplicated value sends MSG_ACCESS when the value asks
// for it, and nothing otherwise; the backup's value is told (Accessed), and so is it
// when a proxy's Get makes another node the primary (MSG_NOTIFY_MAPMEMBER). MadePrimary
// is called on the node a Get makes the primary, and on a backup taking over from a
// primary that left.
func TestReplicateAccess(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := make([]*node, 3)
	made := make([]*madePrimary, 3)
	for i := range nodes {
		nodes[i] = newChannel(t, nw)
	}
	for _, nd := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(nd.ch.Members()) == 2 })
	}
	for i, nd := range nodes {
		made[i] = &madePrimary{}
		newMap(t, nd, replmap.Config{Values: accessCodec{}, SendOptions: syncAck, MadePrimary: made[i].add})
	}
	for _, nd := range nodes {
		start(t, nd)
	}
	waitMapMembers(t, nodes, 2)

	v := &accessValue{name: "v"}
	if _, err := nodes[0].m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	backup, proxy := 1, 2
	if replmap.Held(nodes[1].m, "k") == nil {
		backup, proxy = 2, 1
	}
	held := func() *accessValue { return replmap.Held(nodes[backup].m, "k").(*accessValue) }
	if got, primary, ok := nodes[0].m.Peek("k"); !ok || !primary || got != v {
		t.Errorf("primary's Peek: %v %v %v", got, primary, ok)
	}
	if got, primary, ok := nodes[backup].m.Peek("k"); !ok || primary || got != held() {
		t.Errorf("backup's Peek: %v %v %v", got, primary, ok)
	}
	if _, _, ok := nodes[proxy].m.Peek("k"); ok {
		t.Error("a proxy's Peek returned a value")
	}
	if err := nodes[0].m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	if a, r := v.counts(); r != 0 || a != 0 {
		t.Fatalf("nothing to replicate, but Replicated %d Accessed %d on the primary", r, a)
	}
	v.mu.Lock()
	v.want = true
	v.mu.Unlock()
	if err := nodes[0].m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	if _, r := v.counts(); r != 1 {
		t.Errorf("Replicated called %d times, want 1", r)
	}
	// Sent with SYNC_ACK: applied when Replicate returns.
	if a, _ := held().counts(); a != 1 {
		t.Errorf("backup's value accessed %d times after MSG_ACCESS, want 1", a)
	}
	if got, ok := get(t, nodes[proxy], "k").(*accessValue); !ok || got.name != "v" {
		t.Fatalf("proxy's Get: %#v", get(t, nodes[proxy], "k"))
	}
	if made[proxy].count() != 1 || made[0].count() != 0 || made[backup].count() != 0 {
		t.Errorf("MadePrimary calls: primary %d, backup %d, proxy %d; want 0, 0, 1", made[0].count(),
			made[backup].count(), made[proxy].count())
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the backup told of the new primary", func() bool {
		a, _ := held().counts()
		return a == 2
	})
	// The new primary leaves: its backup takes over and is told.
	if err := nodes[proxy].m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "MadePrimary on the backup", func() bool {
		return made[backup].count() == 1
	})
}
