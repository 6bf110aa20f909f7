package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/objects"
	"github.com/gotribes/tribes/rpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...) }

var testID = []byte("test-rpc")

// node is a channel on an in-memory network, with the message dispatch interceptor so
// that OptAsync sends do not block the caller.
type node struct {
	ch  *channel.Channel
	mbr channel.Member
	tn  *channeltest.Node
}

func newNode(t *testing.T, nw *channeltest.Network) *node {
	t.Helper()
	d, err := interceptors.NewMessageDispatch(interceptors.DispatchConfig{})
	if err != nil {
		t.Fatal(err)
	}
	n := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
		Interceptors: []channel.Interceptor{d}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	return &node{ch: ch, mbr: n.Member(), tn: n}
}

// answer replies "<prefix>:<request>" to string requests.
func answer(prefix string) rpc.Handler {
	return rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
		s, ok := msg.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected request %T", msg)
		}
		return prefix + ":" + s, nil
	})
}

func newRPC(t *testing.T, cfg rpc.Config) *rpc.Channel {
	t.Helper()
	if cfg.ID == nil {
		cfg.ID = testID
	}
	c, err := rpc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func replies(rs []rpc.Response) map[string]int32 {
	out := map[string]int32{}
	for _, r := range rs {
		out[fmt.Sprint(r.Message)] = r.Member.Port
	}
	return out
}

func TestModes(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller := newNode(t, nw)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	var members []channel.Member
	for i := range 3 {
		n := newNode(t, nw)
		newRPC(t, rpc.Config{Channel: n.ch, Handler: answer(fmt.Sprint("r", i))})
		members = append(members, n.mbr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	for _, tc := range []struct {
		mode     rpc.Mode
		min, max int
	}{{rpc.FirstReply, 1, 3}, {rpc.MajorityReply, 2, 3}, {rpc.AllReply, 3, 3}} {
		for _, opts := range []channel.SendOptions{0, channel.OptUseAck | channel.OptSyncAck, channel.OptAsync} {
			rs, err := c.Call(ctx, members, "q", tc.mode, opts)
			if err != nil {
				t.Fatalf("%v %v: %v", tc.mode, opts, err)
			}
			if len(rs) < tc.min || len(rs) > tc.max {
				t.Fatalf("%v %v: %d responses, want %d..%d", tc.mode, opts, len(rs), tc.min, tc.max)
			}
			for msg, port := range replies(rs) {
				want := fmt.Sprintf("r%d:q", port-members[0].Port)
				if msg != want {
					t.Errorf("%v: reply %q from port %d, want %q", tc.mode, msg, port, want)
				}
			}
		}
	}
	// Empty destination: every member.
	rs, err := c.Call(ctx, nil, "all", rpc.AllReply, 0)
	if err != nil || len(rs) != 3 {
		t.Fatalf("call to every member: %d responses, %v", len(rs), err)
	}
}

func TestNoReplyDeliversWithoutWaiting(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, callee := newNode(t, nw), newNode(t, nw)
	got := make(chan any, 1)
	var left []any
	var mu sync.Mutex
	newRPC(t, rpc.Config{Channel: callee.ch, Handler: rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
		got <- msg
		return "ignored", nil
	})})
	// The reply to a NoReply call is a left-over for the caller.
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller"), LeftOver: func(msg any, _ channel.Member) {
		mu.Lock()
		defer mu.Unlock()
		left = append(left, msg)
	}})
	rs, err := c.Call(context.Background(), []channel.Member{callee.mbr}, int32(7), rpc.NoReply, channel.OptUseAck)
	if err != nil || rs != nil {
		t.Fatalf("NoReply: %v, %v", rs, err)
	}
	if v := <-got; v != int32(7) {
		t.Fatalf("handler got %#v", v)
	}
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(left) != 1 || left[0] != "ignored" {
			return fmt.Errorf("left-overs %v", left)
		}
		return nil
	})
}

// A member without an rpc.Channel for the id answers NoRpcChannelReply: it stops counting.
func TestNoRpcChannelReply(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, a, other := newNode(t, nw), newNode(t, nw), newNode(t, nw)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	newRPC(t, rpc.Config{Channel: a.ch, Handler: answer("a")})
	newRPC(t, rpc.Config{Channel: other.ch, ID: []byte("another-id"), Handler: answer("other")})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	for _, mode := range []rpc.Mode{rpc.AllReply, rpc.MajorityReply} {
		rs, err := c.Call(ctx, []channel.Member{a.mbr, other.mbr}, "x", mode, channel.OptUseAck)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if got := replies(rs); len(got) != 1 || got["a:x"] != a.mbr.Port {
			t.Fatalf("%v: %v", mode, got)
		}
	}
	// Only members without the id: complete at once with no response.
	rs, err := c.Call(ctx, []channel.Member{other.mbr}, "x", rpc.FirstReply, 0)
	if err != nil || len(rs) != 0 {
		t.Fatalf("first reply from a member without the id: %v, %v", rs, err)
	}
}

// A member that never answers: AllReply waits for the context and returns what arrived;
// the late reply goes to LeftOver.
func TestStalledMember(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, fast, slow := newNode(t, nw), newNode(t, nw), newNode(t, nw)
	left := make(chan any, 1)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller"),
		LeftOver: func(msg any, from channel.Member) {
			if from.Port == slow.mbr.Port {
				left <- msg
			}
		}})
	newRPC(t, rpc.Config{Channel: fast.ch, Handler: answer("fast")})
	release := make(chan struct{})
	newRPC(t, rpc.Config{Channel: slow.ch, Handler: rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
		<-release
		return "late", nil
	})})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// OptAsync: the in-memory transport delivers synchronously, and the stalled handler
	// must not hold up the caller's send.
	rs, err := c.Call(ctx, []channel.Member{fast.mbr, slow.mbr}, "x", rpc.AllReply, channel.OptAsync)
	if !errors.Is(err, rpc.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if got := replies(rs); len(got) != 1 || got["fast:x"] != fast.mbr.Port {
		t.Fatalf("responses %v", got)
	}
	// Majority of two is one: complete despite the stalled member.
	ctx2, cancel2 := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel2()
	rs, err = c.Call(ctx2, []channel.Member{fast.mbr, slow.mbr}, "y", rpc.MajorityReply, channel.OptAsync)
	if err != nil || len(rs) != 1 {
		t.Fatalf("majority: %v, %v", rs, err)
	}
	close(release)
	for range 2 {
		select {
		case v := <-left:
			if v != "late" {
				t.Fatalf("left-over %v", v)
			}
		case <-time.After(testutil.WaitLimit):
			t.Fatal("no left-over from the stalled member")
		}
	}
}

func TestHandlerErrorSendsNoReply(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, callee := newNode(t, nw), newNode(t, nw)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	newRPC(t, rpc.Config{Channel: callee.ch, Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) {
		return nil, errors.New("no answer")
	})})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rs, err := c.Call(ctx, []channel.Member{callee.mbr}, "x", rpc.FirstReply, 0)
	if !errors.Is(err, rpc.ErrTimeout) || len(rs) != 0 {
		t.Fatalf("%v, %v", rs, err)
	}
	// The call's 100 ms may end before the callee's listener has run: wait for its failure.
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if s := callee.ch.Stats(); s.ListenerFailures != 1 {
			return fmt.Errorf("callee listener failures %d, want 1", s.ListenerFailures)
		}
		return nil
	})
}

// Unreachable members count as lost: the call completes with the others' replies and
// reports the SendError.
func TestUnreachableMember(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, a, gone := newNode(t, nw), newNode(t, nw), newNode(t, nw)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	newRPC(t, rpc.Config{Channel: a.ch, Handler: answer("a")})
	nw.Partition(caller.tn, gone.tn)
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	rs, err := c.Call(ctx, []channel.Member{a.mbr, gone.mbr}, "x", rpc.AllReply, channel.OptUseAck)
	if !errors.Is(err, channel.ErrConnect) || errors.Is(err, rpc.ErrTimeout) {
		t.Fatalf("err = %v, want ErrConnect only", err)
	}
	if f := channel.FaultyMembers(err); len(f) != 1 || f[0].Member.Port != gone.mbr.Port {
		t.Fatalf("faulty %v", f)
	}
	if got := replies(rs); len(got) != 1 || got["a:x"] != a.mbr.Port {
		t.Fatalf("responses %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := newNode(t, nw)
	for _, cfg := range []rpc.Config{
		{ID: testID, Handler: answer("x")},
		{Channel: n.ch, Handler: answer("x")},
		{Channel: n.ch, ID: testID},
		{Channel: n.ch, ID: testID, Handler: answer("x"), MaxMessageBytes: -1},
	} {
		if _, err := rpc.New(cfg); !errors.Is(err, rpc.ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	c := newRPC(t, rpc.Config{Channel: n.ch, Handler: answer("x")})
	if _, err := rpc.New(rpc.Config{Channel: n.ch, ID: testID, Handler: answer("y")}); !errors.Is(err, rpc.ErrDuplicateID) {
		t.Errorf("duplicate id: %v", err)
	}
	ctx := context.Background()
	if _, err := c.Call(ctx, []channel.Member{n.mbr}, "x", rpc.Mode(9), 0); !errors.Is(err, rpc.ErrInvalidMode) {
		t.Errorf("mode 9: %v", err)
	}
	if _, err := c.Call(ctx, nil, "x", rpc.AllReply, 0); !errors.Is(err, channel.ErrNoMembers) {
		t.Errorf("no members: %v", err)
	}
	if _, err := c.Call(ctx, []channel.Member{n.mbr}, make(chan int), rpc.AllReply, 0); !errors.Is(err, jserial.ErrType) {
		t.Errorf("unmarshallable message: %v", err)
	}
	_ = c.Close(context.Background())
	if _, err := c.Call(ctx, []channel.Member{n.mbr}, "x", rpc.AllReply, 0); !errors.Is(err, rpc.ErrClosed) {
		t.Errorf("closed: %v", err)
	}
	// The id is free again.
	newRPC(t, rpc.Config{Channel: n.ch, Handler: answer("z")})
}

// The rpc package's messages are invisible to byte listeners, visible to object listeners
// as Java's generic ChannelListener sees RpcMessages.
func TestRPCMessagesAreObjects(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, callee := newNode(t, nw), newNode(t, nw)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	newRPC(t, rpc.Config{Channel: callee.ch, Handler: answer("callee")})
	var classes []string
	var mu sync.Mutex
	callee.ch.AddMessageListener(objects.Func(func(v any, _ channel.Member) error {
		mu.Lock()
		defer mu.Unlock()
		if o, ok := v.(*jserial.Object); ok {
			classes = append(classes, o.Class.Name)
		}
		return nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if _, err := c.Call(ctx, []channel.Member{callee.mbr}, "x", rpc.AllReply, 0); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(classes) != 1 || classes[0] != "org.apache.catalina.tribes.group.RpcMessage" {
		t.Fatalf("object listener saw %v", classes)
	}
}

// The channel's sender check drops the requests of a node that is not a member unless the
// rpc.Channel of that id takes them (Config.AcceptNonMembers).
func TestNonMemberRequests(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller := newNode(t, nw)
	tn := nw.NewNode()
	callee, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: static.New(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := callee.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = callee.Stop(context.Background(), channel.SvcAll) })
	to := []channel.Member{callee.LocalMember()}
	open, closed := []byte("open"), []byte("closed")
	newRPC(t, rpc.Config{Channel: callee, ID: open, Handler: answer("callee"), AcceptNonMembers: true})
	newRPC(t, rpc.Config{Channel: callee, ID: closed, Handler: answer("callee")})
	// The callee is no member of the caller's group either: its replies need the flag too.
	co := newRPC(t, rpc.Config{Channel: caller.ch, ID: open, Handler: answer("caller"), AcceptNonMembers: true})
	cc := newRPC(t, rpc.Config{Channel: caller.ch, ID: closed, Handler: answer("caller"), AcceptNonMembers: true})
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	rs, err := co.Call(ctx, to, "q", rpc.FirstReply, channel.OptUseAck|channel.OptSyncAck)
	if err != nil || len(rs) != 1 || rs[0].Message != "callee:q" {
		t.Fatalf("open id: %v, %v", rs, err)
	}
	short, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	if rs, err := cc.Call(short, to, "q", rpc.FirstReply, channel.OptUseAck|channel.OptSyncAck); err == nil || len(rs) != 0 {
		t.Fatalf("closed id: %v, %v; want no reply", rs, err)
	}
	if n := callee.Stats().NonMemberDropped; n != 1 {
		t.Fatalf("callee dropped %d messages, want 1", n)
	}
}

// Close ends a call in progress with ErrClosed.
func TestCloseDuringCall(t *testing.T) {
	nw := channeltest.NewNetwork()
	caller, slow := newNode(t, nw), newNode(t, nw)
	c := newRPC(t, rpc.Config{Channel: caller.ch, Handler: answer("caller")})
	got, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	newRPC(t, rpc.Config{Channel: slow.ch, Handler: rpc.HandlerFunc(func(any, channel.Member) (any, error) {
		close(got)
		<-release
		return nil, nil
	})})
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), []channel.Member{slow.mbr}, "x", rpc.AllReply, channel.OptAsync)
		done <- err
	}()
	<-got
	_ = c.Close(context.Background())
	select {
	case err := <-done:
		if !errors.Is(err, rpc.ErrClosed) || errors.Is(err, rpc.ErrTimeout) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Call still running after Close")
	}
}
