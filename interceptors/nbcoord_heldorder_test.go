package interceptors

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// firstSendBlocks is a layer whose first send waits for release (the coordinator's
// goroutine, which sends, is busy meanwhile); later sends pass.
type firstSendBlocks struct {
	channel.InterceptorBase
	sending chan struct{} // closed when the first send began
	release chan struct{}
	once    sync.Once
}

func (f *firstSendBlocks) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	first := false
	f.once.Do(func() { first = true })
	if first {
		close(f.sending)
		<-f.release
	}
	return f.Next().SendMessage(ctx, to, msg)
}

// TestNonBlockingCoordinatorHeldBeforeNewer: a coordination message held because its sender
// was not a member yet is handled before the sender's later messages. Here x confirms a
// view (v1) before this node lists it, then, a member now, a later view (v2); the release
// of the held v1 ran behind v2, which reached the queue first, so v1 was installed over v2:
// the node kept the older view, and its view listener heard the views in the wrong order.
func TestNonBlockingCoordinatorHeldBeforeNewer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		member := func(last byte) channel.Member {
			return channel.Member{Host: []byte{200, 0, 0, last}, Port: 1, SecurePort: -1, UDPPort: -1,
				UniqueID: channel.UniqueID{0x5e, last}}
		}
		x, z := member(1), member(2) // after this node in absolute order: it leads
		var mu sync.Mutex
		var installed [][16]byte
		c, err := NewNonBlockingCoordinator(NonBlockingCoordinatorConfig{
			AliveCheck: func(context.Context, channel.Member) bool { return true },
			OnViewChange: func(_ []channel.Member, id [16]byte) {
				mu.Lock()
				installed = append(installed, id)
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		gate := &firstSendBlocks{sending: make(chan struct{}), release: make(chan struct{})}
		n := newNode(t, nw, c, gate)
		startNodes(t, n)
		synctest.Wait()
		local := n.ch.LocalMember()
		v1 := CoordinationMessage{Leader: local, Source: x, View: []channel.Member{local, x, z}, ID: newViewID(), Type: CoordConf}
		v2 := CoordinationMessage{Leader: local, Source: x, View: []channel.Member{local, x}, ID: newViewID(), Type: CoordConf}
		if err := n.tap.inject(coordMessage(t, x, v1)); err != nil {
			t.Fatal(err)
		}
		if s := c.Stats(); s.NotFromMember != 1 {
			t.Fatalf("stats %+v: want v1 held", s)
		}
		c.MemberAdded(x) // queues an election (this node leads: it sends to x) and the release
		<-gate.sending   // the coordinator's goroutine sends the election request
		if err := n.tap.inject(coordMessage(t, x, v2)); err != nil {
			t.Fatal(err)
		}
		close(gate.release)
		synctest.Wait()
		mu.Lock()
		got := slices.DeleteFunc(slices.Clone(installed), func(id [16]byte) bool { return id != v1.ID && id != v2.ID })
		mu.Unlock()
		if len(got) == 0 || got[len(got)-1] != v2.ID {
			t.Errorf("confirmed views installed in the order %x; want v1 %x before v2 %x", got, v1.ID, v2.ID)
		}
		if _, id, _ := c.View(); id != v2.ID {
			t.Errorf("view %x installed last, want v2 %x", id, v2.ID)
		}
	})
}
