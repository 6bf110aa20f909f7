package replmap_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// countPublishes counts, once armed, the MSG_BACKUPs and MSG_PROXYs sent, and holds the
// first MSG_PROXY until release is closed; held is closed when it arrives.
type countPublishes struct {
	channel.InterceptorBase
	mu              sync.Mutex
	armed           bool
	backups, proxys int
	held, release   chan struct{}
}

func (c *countPublishes) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	typ := replmap.MessageType(msg.Data)
	c.mu.Lock()
	hold := false
	if c.armed {
		switch typ {
		case msgBackupType:
			c.backups++
		case msgProxyType:
			c.proxys++
			hold = c.proxys == 1
		}
	}
	c.mu.Unlock()
	if hold {
		close(c.held)
		select {
		case <-c.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return c.Next().SendMessage(ctx, to, msg)
}

func (c *countPublishes) counts() (backups, proxys int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.backups, c.proxys
}

// The reverse of TestReplicateAndADeparturePassRepublishOneAfterTheOther: a's two keys
// are backed up by x, which leaves; while a's departure pass publishes the first key
// (its MSG_PROXY held), a Replicate of the second, whose backup left, publishes it anew
// (the pass is not republishing that key yet). The pass, coming to the second key, then
// finds it the local primary with a backup node that is a map member, none the departed
// one, and publishes nothing more: one MSG_BACKUP and one MSG_PROXY per key in all, the
// second key's backup where the Replicate put it. Before, the pass published it again,
// moving its backup to another member (3 MSG_BACKUPs, 3 MSG_PROXYs).
func TestDeparturePassAfterAReplicatesRepublishPublishesNothingMore(t *testing.T) {
	nw := channeltest.NewNetwork()
	count := &countPublishes{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(count.release) }) }
	a := newChannel(t, nw, count)
	nodes := []*node{a, newChannel(t, nw), newChannel(t, nw), newChannel(t, nw)}
	for _, n := range nodes {
		waitChannelMembers(t, n, 3)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{SendOptions: syncAck})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 3)
	x := nodes[1]
	keys := []string{"k1", "k2"}
	for _, k := range keys {
		replmap.SetNextBackup(a.m, x.ch.LocalMember())
		if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
			t.Fatal(err)
		}
		if replmap.Held(x.m, k) != "v" {
			t.Fatalf("x holds no backup of a's %s", k)
		}
	}
	count.mu.Lock()
	count.armed = true
	count.mu.Unlock()
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		nw.Kill(x.tn) // returns once a's departure pass republished both keys
	}()
	t.Cleanup(func() { <-killed })
	t.Cleanup(release)
	select {
	case <-count.held:
	case <-ctx(t).Done():
		t.Fatal("a's departure pass sent no MSG_PROXY")
	}
	// The pass's MSG_BACKUP of its first key is applied (synchronized ACKs).
	first, second := keys[0], keys[1]
	if backupOf(nodes, a, first, x) == nil {
		first, second = second, first
	}
	if backupOf(nodes, a, first, x) == nil {
		t.Fatal("no member holds the pass's MSG_BACKUP of either key")
	}
	if err := a.m.Replicate(ctx(t), second, false); err != nil {
		t.Fatalf("a's Replicate of %s: %v", second, err)
	}
	y := backupOf(nodes, a, second, x)
	if y == nil {
		t.Fatalf("no member holds a's %s after its Replicate returned nil", second)
	}
	release()
	select {
	case <-killed:
	case <-ctx(t).Done():
		t.Fatal("a's departure pass did not end")
	}
	for _, k := range keys {
		holders := 0
		for _, n := range nodes {
			if v, primary, held := n.m.Peek(k); n != a && n != x && held && !primary && v == "v" {
				holders++
			}
		}
		if holders != 1 {
			t.Fatalf("%d members hold a backup of a's %s, want 1", holders, k)
		}
	}
	if z := backupOf(nodes, a, second, x); z != y {
		t.Fatalf("the pass moved %s's backup that the Replicate had given it", second)
	}
	if backups, proxys := count.counts(); backups != 2 || proxys != 2 {
		t.Fatalf("a sent %d MSG_BACKUPs and %d MSG_PROXYs after x left, want 2 and 2 (the pass's of %s, the "+
			"Replicate's of %s): the pass published %s again", backups, proxys, first, second, second)
	}
}
