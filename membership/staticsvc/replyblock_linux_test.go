//go:build linux

package staticsvc

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// capture keeps the payload of the message sent through it and sends nothing.
type capture struct {
	channel.InterceptorBase
	data []byte
}

func (c *capture) SendMessage(_ context.Context, _ []channel.Member, msg *channel.Message) error {
	c.data = append([]byte(nil), msg.Data...)
	return nil
}

// blackholePort returns a port on 127.0.0.1 whose accept queue is full: a connect to it
// hangs (its SYN is dropped), as one to a firewalled or unrouted address does.
func blackholePort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 4 { // fill the queue (backlog 0 holds one)
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
	}
	if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
		c.Close()
		t.Skip("the kernel accepted a connection beyond the full queue: no blackhole on this machine")
	}
	return sa.(*syscall.SockaddrInet4).Port
}

// TestStrangerRequestsDoNotBlockTheReceiver: the service's RPC channel answers requests
// from non-members (AcceptNonMembers), to the request's source: an address the stranger
// writes in the frame. rpc sends such a reply off the receiving worker, at most
// rpc.MaxNonMemberReplies at once. Before, it was sent from the receiving worker,
// synchronously (rpc.Channel.received → dispatcher.send): a request naming an address
// where a connect hangs (a firewalled or unrouted one; here a full accept queue) held its
// worker for the sender's Timeout (3 s). 16 such frames, one per connection, held all 15
// of the nio receiver's workers: a member's message then waited for seconds, and a
// stranger sending 16 small frames every 3 s stopped the node's receiving. The
// transports' Timeout and DialTimeout are 30 s here: the member's message must be
// acknowledged within half of that, while the replies to the stranger still hang.
func TestStrangerRequestsDoNotBlockTheReceiver(t *testing.T) {
	p := testutil.FreePorts(t, 3)
	list := make([]channel.Member, 0, 2)
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
	const timeout = 30 * time.Second
	svc := newSvc()
	a, b := startChannelTimeout(t, p[0], svc, timeout), startChannelTimeout(t, p[1], newSvc(), timeout)
	testutil.EventuallyTrue(t, 10*time.Second, "A and B members of each other", func() bool {
		return len(a.Members()) == 1 && len(b.Members()) == 1
	})
	a.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
	target := a.LocalMember()
	memberSend := func() (time.Duration, error) {
		t0 := time.Now()
		err := b.Send(context.Background(), []channel.Member{target}, []byte("member"), channel.OptUseAck|channel.OptSyncAck)
		return time.Since(t0), err
	}
	if _, err := memberSend(); err != nil {
		t.Fatalf("a member's message before the attack: %v", err)
	}

	frame, _ := strangerFrame(t, svc, target, p[2])

	received := a.Stats().MessagesReceived
	const conns = nio.DefaultWorkers + 1
	for range conns {
		c, err := net.Dial("tcp", target.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	// Every worker has taken one of the stranger's requests and is answering it.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the stranger's requests taken by the workers", func() bool {
		return a.Stats().MessagesReceived >= received+nio.DefaultWorkers
	})
	took, err := memberSend()
	if err != nil || took > timeout/2 {
		t.Errorf("a member's synchronized message took %v (%v) while %d requests of a stranger named an address that does not answer: "+
			"their answers hold the receiver's workers for the sender's timeout (%v)", took.Round(time.Millisecond), err, conns, timeout)
	}
}

// strangerFrame returns a frame of a stranger's RPC request to target's service svc
// (what the payload is does not matter: a bad request gets a null answer) naming as its
// source a blackhole, where the reply's connect hangs, and the blackhole's port; port is
// a free one the stranger's channel, which builds it, binds.
func strangerFrame(t *testing.T, svc *Service, target channel.Member, port int) ([]byte, int) {
	t.Helper()
	bh := blackholePort(t)
	src := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(bh), SecurePort: -1, UDPPort: -1, AliveTime: 1}
	src.UniqueID[0] = 0x99
	tcfg := nio.DefaultConfig()
	tcfg.Port, tcfg.AutoBind = port, 1
	tr, err := nio.New(tcfg)
	if err != nil {
		t.Fatal(err)
	}
	cp := &capture{}
	x, err := channel.New(channel.Config{Transport: tr, Membership: static.New(target), HeartbeatInterval: -1, Interceptors: []channel.Interceptor{cp}})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rpc.New(rpc.Config{Channel: x, ID: svc.MembershipID(), Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) { return nil, nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close(context.Background())
	if _, err := rc.Call(context.Background(), []channel.Member{target}, "ping", rpc.NoReply, 0); err != nil || cp.data == nil {
		t.Fatalf("building the request: %v", err)
	}
	return wire.AppendChannelDataFrame(nil, 0, time.Now().UnixMilli(), channel.NewMessageID(), wire.AppendMember(nil, &src), cp.data), bh
}
