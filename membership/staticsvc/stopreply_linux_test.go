//go:build linux

package staticsvc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// TestStopWhileAReplyIsHeldStillTellsTheMembers: a Stop whose ctx ended while its RPC
// channel's Close waited for a reply to a stranger (its connect hanging) sent the STOP
// with that ended ctx, so it failed and the members learned of the stop only when they
// expired this node (here an hour later). What is left of the stop once Stop's ctx has
// ended has a bounded context of its own: b drops a at once.
func TestStopWhileAReplyIsHeldStillTellsTheMembers(t *testing.T) {
	_, svc, b := replyHeld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// Stop returns ctx's error, or nil if the rest of the stop, done once ctx ended,
	// finished as it did.
	if err := svc.Stop(ctx, channel.SvcMembership); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a reply to a stranger held: %v, want nil or context.DeadlineExceeded", err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "b drops a: its STOP arrived", func() bool {
		return len(b.Members()) == 0
	})
}

// TestStopSendsItsStopBeforeWaitingForReplies: Stop sent the STOP only once its RPC
// channel's Close had waited for the replies to strangers; when that wait outlasted
// Stop's ctx, the STOP went out in the background after Stop returned, and a node that
// stopped its transport then (as a channel's Stop of every level does) never sent it: the
// members learned of the stop only when they expired the node (here an hour later). Stop
// now sends the STOP, within its ctx, once its RPC channel no longer takes requests and
// before it waits for anything else (Tribes' stop sends it without waiting for the
// ping thread or the replies): b drops a at once although a's transport stopped right
// after Stop returned.
func TestStopSendsItsStopBeforeWaitingForReplies(t *testing.T) {
	a, svc, b := replyHeld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	// ctx's error, or nil if the rest of the stop, done once ctx ended, finished as it
	// did: either way the transport stops before the stop's wait for the reply is over.
	if err := svc.Stop(ctx, channel.SvcMembership); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a reply to a stranger held: %v, want nil or context.DeadlineExceeded", err)
	}
	if err := a.Stop(context.Background(), channel.SvcTransport); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "b drops a: its STOP arrived before a's transport stopped", func() bool {
		return len(b.Members()) == 0
	})
}

// replyHeld starts a (its service returned) and b, static members of each other, and
// makes a hold a reply to a stranger's START: its sends to the stranger ignore their
// cancellation, as a transport blocked in a connect may, until the test ends.
func replyHeld(t *testing.T) (a *channel.Channel, svc *Service, b *channel.Channel) {
	p := testutil.FreePorts(t, 3)
	var list []channel.Member
	for _, port := range p[:2] {
		m, err := wire.ParseMemberText(fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, m)
	}
	newSvc := func() *Service {
		s, err := New(Config{Members: list, ExpirationTime: time.Hour, PingInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	svc = newSvc()
	// a's sends to the stranger (a reply to its request) ignore their cancellation, as
	// a transport blocked in a connect may, until the test ends.
	release := make(chan struct{})
	hold := &holdSends{release: release}
	tcfg := nio.DefaultConfig()
	tcfg.Port, tcfg.AutoBind = p[0], 1
	tr, err := nio.New(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err = channel.New(channel.Config{Transport: tr, Membership: svc, HeartbeatInterval: -1,
		Interceptors: []channel.Interceptor{hold}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background(), channel.SvcAll) })
	t.Cleanup(func() { close(release) })
	if err := a.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	b = startChannel(t, p[1], newSvc())
	testutil.EventuallyTrue(t, 10*time.Second, "A and B members of each other", func() bool {
		return len(a.Members()) == 1 && len(b.Members()) == 1
	})
	target := a.LocalMember()
	frame, stranger := strangerFrame(t, svc, target, p[2])
	hold.port.Store(int32(stranger))
	received := a.Stats().MessagesReceived
	c, err := net.Dial("tcp", target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the reply to the stranger held", func() bool {
		return a.Stats().MessagesReceived > received && hold.held.Load() > 0
	})
	return a, svc, b
}

// holdSends holds every send to the member at port until release is closed, whatever
// the send's context.
type holdSends struct {
	channel.InterceptorBase
	port    atomic.Int32
	held    atomic.Int32
	release chan struct{}
}

func (h *holdSends) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	for _, m := range to {
		if p := h.port.Load(); p != 0 && m.Port == p {
			h.held.Add(1)
			<-h.release
			return errors.New("held")
		}
	}
	return h.InterceptorBase.SendMessage(ctx, to, msg)
}
