package replmap_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// killBackups kills, once armed, the node each of the first kills MSG_BACKUPs goes to,
// once it was delivered: Kill returns after the sender's map dropped the node.
type killBackups struct {
	channel.InterceptorBase
	nw    *channeltest.Network
	mu    sync.Mutex
	nodes map[channel.MemberKey]*channeltest.Node // set before arming
	armed atomic.Bool
	kills int
}

func (k *killBackups) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	err := k.Next().SendMessage(ctx, to, msg)
	if err != nil || !k.armed.Load() || replmap.MessageType(msg.Data) != msgBackupType || len(to) != 1 {
		return err
	}
	k.mu.Lock()
	n := k.nodes[to[0].Key()]
	kill := n != nil && k.kills > 0
	if kill {
		k.kills--
	}
	k.mu.Unlock()
	if kill {
		k.nw.Kill(n)
	}
	return err
}

// A Put whose backup node leaves after each publish, its own and the republishes that
// replace it (4), stores its entry naming only a node that left, and returns an error
// wrapping ErrNoBackup. A Replicate of the entry publishes it first to a member left,
// as it does an entry without backup nodes; before, it sent to the departed node only,
// failed, and left the entry with no backup.
func TestReplicatePublishesAnEntryWhoseBackupNodesAllLeft(t *testing.T) {
	const others = 6
	nw := channeltest.NewNetwork()
	kb := &killBackups{nw: nw, nodes: map[channel.MemberKey]*channeltest.Node{}, kills: others - 1}
	a := newChannel(t, nw, kb)
	nodes := []*node{a}
	for range others {
		nodes = append(nodes, newChannel(t, nw))
	}
	for _, n := range nodes {
		waitChannelMembers(t, n, others)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, others)
	for _, n := range nodes[1:] {
		kb.nodes[n.ch.LocalMember().Key()] = n.tn
	}
	kb.armed.Store(true)
	_, err := a.m.Put(ctx(t), "k", "v")
	if !errors.Is(err, replmap.ErrNoBackup) {
		t.Fatalf("A's Put whose backup left after each publish: %v, want ErrNoBackup", err)
	}
	members := a.m.Members()
	if len(members) != 1 {
		t.Fatalf("A has %d map members, want 1", len(members))
	}
	var left *node
	for _, n := range nodes[1:] {
		if n.ch.LocalMember().Key() == members[0].Key() {
			left = n
		}
	}
	if v, primary, ok := a.m.Peek("k"); !ok || !primary || v != "v" {
		t.Fatalf("A's k = %#v (primary %v, held %v)", v, primary, ok)
	}
	if _, _, held := left.m.Peek("k"); held && replmap.Held(left.m, "k") != nil {
		t.Fatal("the member left holds a backup of k before the Replicate")
	}
	if err := a.m.Replicate(ctx(t), "k", true); err != nil {
		t.Fatalf("A's Replicate of k: %v", err)
	}
	if got := replmap.Held(left.m, "k"); got != "v" {
		t.Fatalf("the member left holds %#v of k after the Replicate, want its backup \"v\"", got)
	}
}
