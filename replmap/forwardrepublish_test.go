package replmap_test

import (
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A primary that another member's MSG_REMOVE dropped forwards the removal to its backup
// node (a MSG_REMOVE naming itself the primary), and while that send is under way the
// node holds the key again and republishes it (it took over the backup of a member that
// left) to the same backup node. Before, the republish's MSG_BACKUP went out while the
// forward's MSG_REMOVE was still held, which then reached the backup after it and
// dropped the backup the republish had just made: A was left the primary of a value no
// other node held. Now the republish waits until the forward's send returned, and the
// backup it makes stays.
func TestForwardedRemoveDoesNotDropARepublishedBackup(t *testing.T) {
	nw := channeltest.NewNetwork()
	hold := &holdSend{typ: msgRemoveType, held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(hold.release) }) }
	a, b := newChannel(t, nw, hold), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		waitChannelMembers(t, n, 1)
	}
	for _, n := range []*node{a, b} {
		newMap(t, n, replmap.Config{})
	}
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	t.Cleanup(release) // before the maps stop

	if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if replmap.Held(b.m, "k") != "v" {
		t.Fatal("B holds no backup of A's k")
	}
	// Another member removes k: A drops its primary and forwards the removal to B, a
	// send held here.
	hold.armed.Store(true)
	if err := replmap.ReceiveRemove(a.m, stranger, "k"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hold.held:
	case <-ctx(t).Done():
		t.Fatal("A did not forward the removal of its primary to B")
	}
	// A backs k up for the stranger, which then leaves: A takes k over and publishes it
	// anew, to B, its only map member.
	if err := replmap.ReceiveBackup(a.m, stranger, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		replmap.MemberGone(a.m, stranger)
	}()
	// The republish waits for the forward's send, or, as before, sent its MSG_BACKUP
	// and returned.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's republish waiting for the forward, or done", func() bool {
		select {
		case <-gone:
			return true
		default:
			return replmap.ForwardWaiters(a.m) == 1
		}
	})
	release()
	select {
	case <-gone:
	case <-ctx(t).Done():
		t.Fatal("A's republish of k has not returned")
	}
	if _, primary, held := a.m.Peek("k"); !held || !primary {
		t.Fatal("A does not hold k as its primary after taking it over")
	}
	// Both A's sends to B returned: B applied them.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's forward applied", func() bool { return replmap.KeyLockRefs(a.m, "k") == 0 })
	if got := replmap.Held(b.m, "k"); got != "v2" {
		t.Fatalf("B's backup of A's republished k = %#v, want \"v2\": the forwarded removal dropped it", got)
	}
	if got := get(t, b, "k"); got != "v2" {
		t.Fatalf("B's Get of k = %#v", got)
	}
}
