package replmap_test

import (
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// B's Get of the entry it backs up publishes it (its MSG_BACKUP to A waits on B's side)
// while a Put of the key on B stores a new value. Before, the Put went on beside the
// Get, which then made the entry it found, the Put's, the primary of the value it had
// read: the Put returned nil and its value was lost on both nodes. Now the Put waits for
// the Get, and the node ends with the Put's value, backed up by A.
func TestPutDuringAGetOnTheBackupKeepsThePutsValue(t *testing.T) {
	nw := channeltest.NewNetwork()
	hold := &holdBackupSend{held: make(chan struct{}), release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(hold.release)
		}
	}()
	a, b := newChannel(t, nw), newChannel(t, nw, hold)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	newMap(t, a, replmap.Config{SendOptions: syncAck})
	newMap(t, b, replmap.Config{SendOptions: syncAck})
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B backs k up", func() bool { return replmap.Held(b.m, "k") == "v" })

	hold.armed.Store(true)
	type result struct {
		v   any
		err error
	}
	got := make(chan result, 1)
	go func() {
		v, _, err := b.m.Get(ctx(t), "k")
		got <- result{v, err}
	}()
	select {
	case <-hold.held: // B's Get publishes the value it backs up
	case r := <-got:
		t.Fatalf("B's Get returned (%v, %v) without publishing", r.v, r.err)
	}
	put := make(chan error, 1)
	go func() {
		_, err := b.m.Put(ctx(t), "k", "new")
		put <- err
	}()
	// The Put returns, or waits for the key's send lock behind the Get.
	var putErr error
	putDone := false
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the Put returns or waits for the Get", func() bool {
		select {
		case putErr = <-put:
			putDone = true
			return true
		default:
			return replmap.KeyLockRefs(b.m, "k") == 2
		}
	})
	close(hold.release)
	released = true
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("B's Get: %v", r.err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("B's Get has not returned")
	}
	if !putDone {
		putErr = <-put
	}
	if putErr != nil {
		t.Fatalf("B's Put: %v", putErr)
	}
	if v, primary, ok := b.m.Peek("k"); !ok || !primary || v != "new" {
		t.Errorf("B holds %#v (primary %v, held %v) once the Get and the Put returned, want the Put's value as primary", v, primary, ok)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A backs up the Put's value", func() bool { return replmap.Held(a.m, "k") == "new" })
}
