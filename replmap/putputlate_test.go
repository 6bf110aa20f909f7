package replmap_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

const msgBackupType = 1 // MSG_BACKUP

// holdPublishTo holds the first MSG_BACKUP or MSG_PROXY sent to to once armed until
// release is closed.
type holdPublishTo struct {
	channel.InterceptorBase
	to            channel.Member
	armed         atomic.Bool
	held, release chan struct{}
}

func (h *holdPublishTo) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	typ := replmap.MessageType(msg.Data)
	if (typ == msgBackupType || typ == msgProxyType) && slices.ContainsFunc(to, func(mb channel.Member) bool { return mb.Key() == h.to.Key() }) &&
		h.armed.CompareAndSwap(true, false) {
		close(h.held)
		<-h.release
	}
	return h.Next().SendMessage(ctx, to, msg)
}

// B put a key. A's Put of it has sent its MSG_REMOVE and its MSG_BACKUP to its backup X
// (B or C), its MSG_PROXY held, when X's Put of the key sends its MSG_REMOVE (X held the
// key), which reaches A while its Put sends, and then its MSG_BACKUP or MSG_PROXY, held
// for A until A's Put returned. The wire does not tell A that X's MSG_REMOVE is a Put's
// (Java's put sends the same, a MSG_REMOVE holds only the key), and A's Put cannot wait
// for a publish a Remove never sends: it takes it for X's Remove, stores nothing and
// sends MSG_REMOVE again, which reaches X while X's Put sends, and X's Put does the same.
// Both Puts return nil, both values are lost, and the nodes agree: none holds the key
// (docs/maps.md).
func TestPutOnAnotherNodeWhosePublishComesAfterTheStoreLosesBothValues(t *testing.T) {
	for rotate := range 2 {
		t.Run(fmt.Sprintf("rotate %d", rotate), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			holdA := &holdSend{typ: msgProxyType, held: make(chan struct{}), release: make(chan struct{})}
			holds := []*holdPublishTo{nil, {held: make(chan struct{}), release: make(chan struct{})},
				{held: make(chan struct{}), release: make(chan struct{})}}
			var onceA, onceX sync.Once
			releaseA := func() { onceA.Do(func() { close(holdA.release) }) }
			releaseX := func() { onceX.Do(func() { close(holds[1].release); close(holds[2].release) }) }
			nodes := []*node{newChannel(t, nw, holdA), newChannel(t, nw, holds[1]), newChannel(t, nw, holds[2])}
			a := nodes[0]
			holds[1].to, holds[2].to = a.ch.LocalMember(), a.ch.LocalMember()
			for _, n := range nodes {
				testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(n.ch.Members()) == 2 })
			}
			for _, n := range nodes {
				newMap(t, n, replmap.Config{SendOptions: syncAck})
			}
			for _, n := range nodes {
				start(t, n)
			}
			waitMapMembers(t, nodes, 2)
			t.Cleanup(func() { releaseA(); releaseX() })

			if _, err := nodes[1].m.Put(ctx(t), "k", "v0"); err != nil {
				t.Fatalf("B's Put: %v", err)
			}
			for range rotate {
				// A's publish takes its map members in turn: the next Put's backup is the other.
				if _, err := a.m.Put(ctx(t), "other", "x"); err != nil {
					t.Fatalf("A's Put of another key: %v", err)
				}
			}
			holdA.armed.Store(true)
			putA := make(chan error, 1)
			go func() {
				_, err := a.m.Put(ctx(t), "k", "va")
				putA <- err
			}()
			select {
			case <-holdA.held: // A's Put sent its MSG_REMOVE and MSG_BACKUP; its MSG_PROXY waits
			case err := <-putA:
				t.Fatalf("A's Put returned (%v) without sending a proxy", err)
			}
			x := 0 // A's backup, which holds an entry of the key
			for i := 1; i < len(nodes); i++ {
				if v, primary, ok := nodes[i].m.Peek("k"); ok && !primary && v == "va" {
					x = i
				}
			}
			if x == 0 {
				t.Fatalf("no node holds A's backup:%s", keyState(nodes))
			}
			holds[x].armed.Store(true)
			putX := make(chan error, 1)
			go func() {
				_, err := nodes[x].m.Put(ctx(t), "k", "vx")
				putX <- err
			}()
			select {
			case <-holds[x].held: // X's MSG_REMOVE reached A and the third node; its publish to A waits
			case err := <-putX:
				t.Fatalf("X's Put returned (%v) without sending to A", err)
			}
			releaseA()
			if err := await(t, "A's Put", putA); err != nil {
				t.Fatalf("A's Put: %v", err)
			}
			releaseX()
			if err := await(t, "X's Put", putX); err != nil {
				t.Fatalf("X's Put: %v", err)
			}
			for i, n := range nodes {
				if slices.Contains(n.m.Keys(), any("k")) {
					t.Errorf("node %d lists k once A's and X's Puts returned:%s", i, keyState(nodes))
				}
			}
			for _, i := range []int{0, x} {
				if k := replmap.KeyReplicatesListed(nodes[i].m); k != 0 {
					t.Errorf("node %d lists %d keys for Put once its Put returned, want 0", i, k)
				}
			}

		})
	}
}
