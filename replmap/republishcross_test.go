package replmap_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// holdProxies holds, once armed, the first len(held) MSG_PROXYs sent, the i-th until
// release[i] is closed; held[i] is closed when it arrives. backups counts the
// MSG_BACKUPs sent once armed.
type holdProxies struct {
	channel.InterceptorBase
	mu            sync.Mutex
	armed         bool
	n             int
	held, release []chan struct{}
	backups       int
}

func (h *holdProxies) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if replmap.MessageType(msg.Data) == msgBackupType {
		h.mu.Lock()
		if h.armed {
			h.backups++
		}
		h.mu.Unlock()
	}
	if replmap.MessageType(msg.Data) == msgProxyType {
		h.mu.Lock()
		i := -1
		if h.armed && h.n < len(h.held) {
			i = h.n
			h.n++
		}
		h.mu.Unlock()
		if i >= 0 {
			close(h.held[i])
			select {
			case <-h.release[i]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return h.Next().SendMessage(ctx, to, msg)
}

// A Replicate of an entry whose backup node left publishes it anew while the departure's
// pass republishes it too: the two republishes of the key run one after the other.
// Before, they ran together, each sending its MSG_BACKUP to one member and its MSG_PROXY
// to the other: here the pass's MSG_PROXY turned the Replicate's backup into a proxy,
// then the Replicate's MSG_PROXY the pass's, and the Replicate (not complete, of a value
// that is not Diffable) sent nothing more: no member held the value, the primary naming
// a proxy its backup. The Replicate, which waited for the pass, then publishes nothing
// more: the pass gave the entry a backup node (one MSG_BACKUP in all; before, the
// Replicate published it a second time, moving the backup to another member).
func TestReplicateAndADeparturePassRepublishOneAfterTheOther(t *testing.T) {
	nw := channeltest.NewNetwork()
	hold := &holdProxies{}
	for range 2 {
		hold.held = append(hold.held, make(chan struct{}))
		hold.release = append(hold.release, make(chan struct{}))
	}
	var once [2]sync.Once
	release := func(i int) { once[i].Do(func() { close(hold.release[i]) }) }
	a := newChannel(t, nw, hold)
	nodes := []*node{a, newChannel(t, nw), newChannel(t, nw), newChannel(t, nw)}
	for _, n := range nodes {
		waitChannelMembers(t, n, 3)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 3)
	const k = "k"
	if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
		t.Fatal(err)
	}
	var x *node // k's backup node
	for _, n := range nodes[1:] {
		if replmap.Held(n.m, k) == "v" {
			x = n
		}
	}
	if x == nil {
		t.Fatal("no member holds a backup of A's k")
	}
	hold.mu.Lock()
	hold.armed = true
	hold.mu.Unlock()
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		nw.Kill(x.tn) // returns once A's departure pass republished k
	}()
	t.Cleanup(func() { <-killed })
	t.Cleanup(func() { release(0); release(1) })
	select {
	case <-hold.held[0]:
	case <-ctx(t).Done():
		t.Fatal("A's departure pass sent no MSG_PROXY of k")
	}
	replicated := make(chan error, 1)
	go func() { replicated <- a.m.Replicate(ctx(t), k, false) }()
	// Before, the Replicate republished beside the pass, up to its own MSG_PROXY.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A's Replicate waiting for the pass", func() bool {
		select {
		case <-hold.held[1]:
			return true
		default:
		}
		return replmap.RepublishWaiters(a.m) == 1
	})
	release(0)
	select {
	case <-killed:
	case <-ctx(t).Done():
		t.Fatal("A's departure pass did not end")
	}
	select {
	case err := <-replicated:
		if err != nil {
			t.Fatalf("A's Replicate of k: %v", err)
		}
	case <-ctx(t).Done():
		t.Fatal("A's Replicate of k did not return")
	}
	backups := 0
	for _, n := range nodes[1:] {
		if n != x && replmap.Held(n.m, k) == "v" {
			backups++
		}
	}
	if backups != 1 {
		t.Fatalf("%d members hold a backup of A's k after the pass and the Replicate, want 1", backups)
	}
	hold.mu.Lock()
	sent, proxies := hold.backups, hold.n
	hold.mu.Unlock()
	if sent != 1 || proxies != 1 {
		t.Fatalf("A sent %d MSG_BACKUPs and %d MSG_PROXYs of k after its backup left, want 1 and 1 (the pass's): "+
			"the Replicate that waited for the pass published k again", sent, proxies)
	}
	if n := replmap.RepublishWaiters(a.m); n != 0 {
		t.Fatalf("%d republishes still waiting", n)
	}
}
