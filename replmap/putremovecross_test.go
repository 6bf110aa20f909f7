package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// splitSend sends the first message of type typ sent once armed to its destinations but
// last, then holds it for last until release is closed.
type splitSend struct {
	channel.InterceptorBase
	typ           int
	last          channel.Member
	armed         atomic.Bool
	held, release chan struct{}
}

func (s *splitSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if replmap.MessageType(msg.Data) != s.typ || !s.armed.CompareAndSwap(true, false) {
		return s.Next().SendMessage(ctx, to, msg)
	}
	var first, rest []channel.Member
	for _, mb := range to {
		if mb.Key() == s.last.Key() {
			rest = append(rest, mb)
		} else {
			first = append(first, mb)
		}
	}
	var err error
	if len(first) > 0 {
		m := *msg
		err = s.Next().SendMessage(ctx, first, &m)
	}
	close(s.held)
	<-s.release
	if len(rest) > 0 {
		m := *msg
		err = errors.Join(err, s.Next().SendMessage(ctx, rest, &m))
	}
	return err
}

// crossCluster starts three nodes A, B and C with synchronized ACKs, A's sends passing
// through a holdSend of MSG_PROXY and B's through a splitSend of MSG_REMOVE that holds
// it for A, and returns them, the two interceptors and the function that releases what
// they hold (also called at cleanup, before the maps stop).
func crossCluster(t *testing.T) ([]*node, *holdSend, *splitSend, func()) {
	return crossClusterWith(t, replmap.Config{})
}

// crossClusterWith is crossCluster with bcfg B's map's Config (its SendOptions syncAck).
func crossClusterWith(t *testing.T, bcfg replmap.Config) ([]*node, *holdSend, *splitSend, func()) {
	nw := channeltest.NewNetwork()
	hold := &holdSend{typ: msgProxyType, held: make(chan struct{}), release: make(chan struct{})}
	split := &splitSend{typ: msgRemoveType, held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	nodes := []*node{newChannel(t, nw, hold), newChannel(t, nw, split), newChannel(t, nw)}
	split.last = nodes[0].ch.LocalMember()
	for _, n := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 2 })
	}
	bcfg.SendOptions = syncAck
	for i, n := range nodes {
		cfg := replmap.Config{SendOptions: syncAck}
		if i == 1 {
			cfg = bcfg
		}
		newMap(t, n, cfg)
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	release := func() {
		once.Do(func() {
			close(hold.release)
			close(split.release)
		})
	}
	t.Cleanup(release)
	return nodes, hold, split, release
}

// keyState describes what each node holds of "k".
func keyState(nodes []*node) string {
	var b strings.Builder
	for i, n := range nodes {
		v, primary, held := n.m.Peek("k")
		p, named := replmap.Primary(n.m, "k")
		fmt.Fprintf(&b, "\n  node %d: listed %v, value %v (held %v, primary %v), names a primary %v %v",
			i, slices.Contains(n.m.Keys(), any("k")), v, held, primary, named, p)
	}
	return b.String()
}

// consistentKey fails the test unless the nodes agree on "k": none lists it, or every
// one does, one as its primary holding v, one other as its backup holding v, the third
// as a proxy, the two naming the primary.
func consistentKey(t *testing.T, nodes []*node, v any) {
	t.Helper()
	listed, primaries, backups := 0, 0, 0
	var primary channel.Member
	for _, n := range nodes {
		if slices.Contains(n.m.Keys(), any("k")) {
			listed++
		}
		if got, isPrimary, held := n.m.Peek("k"); held && got == v {
			if isPrimary {
				primaries++
				primary = n.ch.LocalMember()
			} else {
				backups++
			}
		}
	}
	if listed == 0 {
		return
	}
	ok := listed == len(nodes) && primaries == 1 && backups == 1
	for _, n := range nodes {
		if _, isPrimary, _ := n.m.Peek("k"); ok && !isPrimary {
			p, named := replmap.Primary(n.m, "k")
			ok = named && p.Key() == primary.Key()
		}
	}
	if !ok {
		t.Errorf("the nodes disagree on k once both returned:%s", keyState(nodes))
	}
}

// A's Put of a new key has sent its MSG_BACKUP, its MSG_PROXY held, when B's Remove of
// the key reaches every node (A holds no entry yet) and returns. Before, A's Put then
// stored its entry: A was the primary of a value whose backup B's MSG_REMOVE dropped.
// Now A's Put, which the MSG_REMOVE reached while it sent, stores nothing and removes the
// key again, as for a Remove on A: no node holds the key.
func TestRemoveOnAnotherNodeDuringAPutLeavesTheNodesAgreeing(t *testing.T) {
	nodes, hold, _, release := crossCluster(t)
	a, b := nodes[0], nodes[1]
	hold.armed.Store(true)
	put := make(chan error, 1)
	go func() {
		_, err := a.m.Put(ctx(t), "k", "v")
		put <- err
	}()
	select {
	case <-hold.held: // the Put sent its MSG_BACKUP; its MSG_PROXY waits
	case err := <-put:
		t.Fatalf("A's Put returned (%v) without sending a proxy", err)
	}
	if _, err := b.m.Remove(ctx(t), "k"); err != nil {
		t.Fatalf("B's Remove: %v", err)
	}
	release()
	if err := await(t, "A's Put", put); err != nil {
		t.Fatalf("A's Put: %v", err)
	}
	consistentKey(t, nodes, "v")
	for i, n := range nodes {
		if keys := n.m.Keys(); len(keys) != 0 {
			t.Errorf("node %d holds %v once A's Put and B's Remove returned", i, keys)
		}
	}
	if n := replmap.KeyReplicatesListed(a.m); n != 0 {
		t.Errorf("A lists %d keys for Put once its Put returned, want 0", n)
	}
}

// B's Remove of a key has reached C, its MSG_REMOVE to A held, when A's Put of the key
// runs and returns (its MSG_BACKUP and MSG_PROXY reach B and C after the Remove), the
// backup B or C. Before, B's MSG_REMOVE then dropped A's entry: B and C were left a
// backup and a proxy of a primary that held nothing. Now B's Remove, which A's publish
// reached while its MSG_REMOVE was sent, drops what it got and sends MSG_REMOVE again:
// the removal comes after the Put, and no node holds the key.
func TestPutDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing(t *testing.T) {
	for _, backup := range []int{1, 2} {
		t.Run(fmt.Sprintf("backup node %d", backup), func(t *testing.T) {
			nodes, _, split, release := crossCluster(t)
			a, b := nodes[0], nodes[1]
			if backup == 2 {
				// A's publish takes its map members in turn: this Put's backup is B,
				// the next one's C.
				if _, err := a.m.Put(ctx(t), "other", "x"); err != nil {
					t.Fatalf("A's Put of another key: %v", err)
				}
			}
			split.armed.Store(true)
			removed := make(chan error, 1)
			go func() {
				_, err := b.m.Remove(ctx(t), "k")
				removed <- err
			}()
			select {
			case <-split.held: // B's MSG_REMOVE reached C; the one to A waits
			case err := <-removed:
				t.Fatalf("B's Remove returned (%v) without sending MSG_REMOVE", err)
			}
			if _, err := a.m.Put(ctx(t), "k", "v"); err != nil {
				t.Fatalf("A's Put: %v", err)
			}
			if _, primary, held := nodes[backup].m.Peek("k"); !held || primary {
				t.Fatalf("A's Put returned, node %d holds no backup of k:%s", backup, keyState(nodes))
			}
			release()
			if err := await(t, "B's Remove", removed); err != nil {
				t.Fatalf("B's Remove: %v", err)
			}
			consistentKey(t, nodes, "v")
			for i, n := range nodes {
				if slices.Contains(n.m.Keys(), any("k")) {
					t.Errorf("node %d lists k once A's Put and B's Remove returned:%s", i, keyState(nodes))
				}
			}
			if n := replmap.KeyReplicatesListed(b.m); n != 0 {
				t.Errorf("B lists %d keys once its Remove returned, want 0", n)
			}
		})
	}
}
