package replmap_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// holdBackupSend is an interceptor that, while armed, holds the next MSG_BACKUP the
// channel sends until released.
type holdBackupSend struct {
	channel.InterceptorBase
	armed         atomic.Bool
	held, release chan struct{}
}

func (h *holdBackupSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if replmap.MessageType(msg.Data) == msgBackup && h.armed.CompareAndSwap(true, false) {
		close(h.held)
		<-h.release
	}
	return h.Next().SendMessage(ctx, to, msg)
}

// A primary that answers a MSG_RETRIEVE_BACKUP while a Replicate that took the value's
// Diff still sends it (the value clean when the answer marshals it, the changes in the
// answer all the same) has its next Replicate send the value in full: the asker, which
// applies that diff to the value of the answer, holds each change once after it. Before,
// the answer left no mark, and the asker held the change twice for good.
func TestRetrieveBackupAnswerDuringReplicateSentInFullNext(t *testing.T) {
	nw := channeltest.NewNetwork()
	hold := &holdBackupSend{held: make(chan struct{}), release: make(chan struct{})}
	a, b := newChannel(t, nw, hold), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 1 })
	}
	cfg := replmap.Config{Values: mapnotes.Codec{}, SendOptions: syncAck}
	newMap(t, a, cfg)
	newMap(t, b, cfg)
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	v := mapnotes.New("a")
	if _, err := a.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a")
	// b's view after its restart: a proxy naming a the primary and b the backup.
	if err := replmap.ReceiveProxy(b.m, a.ch.LocalMember(), "k", b.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	v.Add("x")
	hold.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- a.m.Replicate(ctx(t), "k", false) }()
	<-hold.held // the diff of x taken, its send held
	if err := replmap.FetchFrom(ctx(t), b.m, "k", a.ch.LocalMember()); err != nil {
		close(hold.release)
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a", "x") // the answer
	close(hold.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	waitItems(t, b, "k", "a", "x")
}
