package replmap_test

import (
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A Put on another node r racing a resend (a member's pass that stepped aside asked w,
// k's primary, to send its value again: resend.go). w's Replicate in full read v2 and
// its MSG_BACKUP to b is held; r puts v3 naming b its backup (synchronized ACKs: its
// MSG_REMOVE applied on w, its MSG_BACKUP on b, its MSG_PROXY on w) and returns nil;
// then w's MSG_BACKUP of v2 reaches b and replaces r's backup there. The removal w
// forwards to its backup nodes once r's MSG_REMOVE dropped its primary (forward.go)
// drops it: b ends holding no value, r the primary of v3 alone. Before, the forward was
// not sent because w held the key again (r's proxy), and b kept v2 naming w for good:
// the value went backwards on the backup of an acknowledged Put, and r's departure
// would have made v2 the value. Not fixed (pinned): r's backup of v3 on b is lost, r
// holding the only copy until its next Replicate in full (shown). w's Replicate and
// r's Put are concurrent writes of the same clock (each one more than w's Put's, which
// both nodes made or heard of: stamp.go), which the clocks do not order: b applies
// w's MSG_BACKUP as it comes (TestDeparturePassBackupReachingThePutsBackupLateIgnored
// shows an older one that b does not apply).
func TestPutOnAnotherNodeRacingAResend(t *testing.T) {
	nw := channeltest.NewNetwork()
	h := &holdSend{typ: msgBackupType, held: make(chan struct{}), release: make(chan struct{})}
	nodes := []*node{newChannel(t, nw, h), newChannel(t, nw), newChannel(t, nw), newChannel(t, nw)}
	for _, n := range nodes {
		waitChannelMembers(t, n, 3)
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 3)
	w, a, r, b := nodes[0], nodes[1], nodes[2], nodes[3]
	released := false
	release := func() {
		if !released {
			released = true
			close(h.release)
		}
	}
	t.Cleanup(release)
	const k = "k"
	replmap.SetNextBackup(w.m, b.ch.LocalMember())
	if _, err := w.m.Put(ctx(t), k, "v2"); err != nil {
		t.Fatal(err)
	}
	h.armed.Store(true)
	if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, b.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	<-h.held // the resend's MSG_BACKUP of v2 to b
	replmap.SetNextBackup(r.m, b.ch.LocalMember())
	if _, err := r.m.Put(ctx(t), k, "v3"); err != nil {
		t.Fatalf("r's Put: %v", err)
	}
	release()
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if rv, rprimary, _ := r.m.Peek(k); rv != "v3" || !rprimary {
			return fmt.Errorf("r holds %v (primary %v), want the primary of v3", rv, rprimary)
		}
		if bv, _, bheld := b.m.Peek(k); bheld {
			return fmt.Errorf("b holds %v, want no value (v2 gone, r's backup of v3 lost: pinned)", bv)
		}
		return nil
	})
	for _, n := range []*node{w, a} {
		if v, _, held := n.m.Peek(k); held {
			t.Errorf("%v holds %v, want a proxy", n.ch.LocalMember(), v)
		}
	}
	// r's next Replicate in full gives b the value again.
	if err := r.m.Replicate(ctx(t), k, true); err != nil {
		t.Fatalf("r's Replicate: %v", err)
	}
	if bv, bprimary, bheld := b.m.Peek(k); !bheld || bprimary || bv != "v3" {
		t.Fatalf("b holds %v (held %v, primary %v) after r's Replicate, want r's backup of v3", bv, bheld, bprimary)
	}
}
