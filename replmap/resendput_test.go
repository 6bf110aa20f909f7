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
// would have made v2 the value. w's Replicate carries the clock of w's Put (stamp.go),
// which r heard of: r's Put's is larger, and b does not apply w's MSG_BACKUP
// (olderLocked) and keeps r's backup of v3, which r's next Replicate in full replaces
// (shown). When a Replicate's clock was one more than its map's, w's and r's were
// equal, not ordered: b applied w's MSG_BACKUP, and r's backup of v3 was lost (pinned
// then), r holding the only copy.
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
	testutil.EventuallyTrue(t, testutil.WaitLimit, "w's resend ended", func() bool { return replmap.PassesRunning(w.m) == 0 })
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if rv, rprimary, _ := r.m.Peek(k); rv != "v3" || !rprimary {
			return fmt.Errorf("r holds %v (primary %v), want the primary of v3", rv, rprimary)
		}
		if b.m.Stats().OlderIgnored != 1 {
			return fmt.Errorf("b ignored %d older publishes, want 1 (w's resend)", b.m.Stats().OlderIgnored)
		}
		return nil
	})
	bp, _ := replmap.Primary(b.m, k)
	if bv, bprimary, bheld := b.m.Peek(k); !bheld || bprimary || bv != "v3" || bp.Key() != r.ch.LocalMember().Key() {
		t.Fatalf("b holds %v (held %v, primary %v, named %v), want r's backup of v3", bv, bheld, bprimary, bp)
	}
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
