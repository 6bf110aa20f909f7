package rpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/nodetest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/membership/static"
	tribesnode "github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/rpc"
	"github.com/gotribes/tribes/transport/nio"
)

// startTCP starts a channel on loopback TCP (transport/nio configured by cfg, a free
// port) with an empty static membership; it is stopped at cleanup.
func startTCP(t *testing.T, cfg nio.Config) (*channel.Channel, *static.Service) {
	t.Helper()
	cfg.Port = 0
	ch := nodetest.Start(t, tribesnode.Config{Transport: &cfg})
	return ch, ch.Membership().(*static.Service)
}

// lossSignal is a membership listener that is told of lost messages after the rpc
// dispatcher (the channel tells its message listeners first).
type lossSignal struct {
	channel.MembershipFuncs
	lost chan channel.LostMessage
}

func (l *lossSignal) MessageLost(m channel.LostMessage) {
	select {
	case l.lost <- m:
	default:
	}
}

// A reply the caller's transport refuses (beyond its MaxFrameSize) or the caller's
// rpc.Channel cannot decode (beyond its MaxMessageBytes) never arrives, and the call's
// error says why, for errors.Is; raising MaxMessageBytes lets the reply through.
func TestLostReplyNamed(t *testing.T) {
	tcfg := nio.DefaultConfig()
	tcfg.MaxFrameSize = 64 << 10
	caller, callerMs := startTCP(t, tcfg)
	peer, peerMs := startTCP(t, nio.DefaultConfig())
	if err := callerMs.Add(context.Background(), peer.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if err := peerMs.Add(context.Background(), caller.LocalMember()); err != nil {
		t.Fatal(err)
	}
	// The peer replies with as many bytes as the request asks for.
	newRPC(t, rpc.Config{Channel: peer, Handler: rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
		return make([]byte, msg.(int32)), nil
	})})
	signal := &lossSignal{lost: make(chan channel.LostMessage, 1)}
	caller.AddMembershipListener(signal)
	// sends counts the caller's completed sends: a send cancelled before it returned
	// would fail, though its bytes left.
	sends := func() uint64 { s := caller.Stats(); return s.MessagesSent + s.SendFailures }
	// call asks for a reply of n bytes; it cancels the call once until (if not nil) says
	// the reply was lost and the rpc.Channel told, and the request's send returned.
	call := func(c *rpc.Channel, n int32, until func() bool) ([]rpc.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
		defer cancel()
		if until != nil {
			sent, seen := sends(), false
			go func() {
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						seen = seen || until()
						if seen && sends() > sent {
							cancel()
							return
						}
					}
				}
			}()
		}
		return c.Call(ctx, []channel.Member{peer.LocalMember()}, n, rpc.FirstReply, 0)
	}
	// The dispatcher notes an undecodable message before the channel counts it.
	undecodable := func() bool { return caller.Stats().ListenerFailures > 0 }
	lost := func() bool {
		select {
		case <-signal.lost:
			return true
		default:
			return false
		}
	}

	small := newRPC(t, rpc.Config{Channel: caller, Handler: answer("caller"), MaxMessageBytes: 32 << 10})
	if rs, err := call(small, 1000, nil); err != nil || len(rs) != 1 || len(rs[0].Message.([]byte)) != 1000 {
		t.Fatalf("a small reply: %v, %v", rs, err)
	}
	// Within the frame, beyond MaxMessageBytes: the rpc layer cannot decode it.
	_, err := call(small, 40<<10, undecodable)
	if !errors.Is(err, rpc.ErrTimeout) || !errors.Is(err, rpc.ErrMalformed) || !errors.Is(err, jserial.ErrLimit) {
		t.Fatalf("a reply beyond MaxMessageBytes: %v, want ErrTimeout, ErrMalformed and jserial.ErrLimit", err)
	}
	if s := caller.Stats(); s.ListenerFailures != 1 {
		t.Fatalf("caller stats: %d listener failures", s.ListenerFailures)
	}
	// A second rpc.Channel on the same channel with a larger limit raises it for both.
	large := newRPC(t, rpc.Config{Channel: caller, ID: []byte("large"), Handler: answer("large"), MaxMessageBytes: 60 << 10})
	newRPC(t, rpc.Config{Channel: peer, ID: []byte("large"), Handler: rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) {
		return make([]byte, msg.(int32)), nil
	})})
	for _, c := range []*rpc.Channel{small, large} {
		if rs, err := call(c, 40<<10, nil); err != nil || len(rs) != 1 || len(rs[0].Message.([]byte)) != 40<<10 {
			t.Fatalf("%s: a reply within the larger MaxMessageBytes: %v", c.ID(), err)
		}
	}
	// Beyond the frame limit: the transport drops it (and closes the connection it came
	// on, which a later reply might find dead: this case comes last).
	_, err = call(small, 100<<10, lost)
	if !errors.Is(err, rpc.ErrTimeout) || !errors.Is(err, channel.ErrMessageTooLarge) {
		t.Fatalf("a reply beyond MaxFrameSize: %v, want ErrTimeout and channel.ErrMessageTooLarge", err)
	}
	if s := caller.Stats(); s.MessagesLost != 1 {
		t.Fatalf("caller stats: %d lost", s.MessagesLost)
	}
}

// silentMember is a member on 127.0.0.1 that accepts connections and never answers: a
// request sent to it with an ACK waits for the context or the rpc.Channel's Close.
func silentMember(t *testing.T) (channel.Member, *testutil.SilentPeer) {
	p := testutil.NewSilentPeer(t)
	return channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(p.Port()), SecurePort: -1, UDPPort: -1}, p
}

// A call whose request waits for the ACK of a member that never answers ends when its
// context does, with the context's error, and when the rpc.Channel is closed, with
// ErrClosed: both well before the transport's ack timeout (30 s here), within half of it.
func TestCallToSilentMemberEnds(t *testing.T) {
	tcfg := nio.DefaultConfig()
	// Only the context or Close can end the calls: a call that waited for the transport's
	// Timeout instead would still run at half of it.
	tcfg.Timeout = 30 * time.Second
	caller, ms := startTCP(t, tcfg)
	silent, peer := silentMember(t)
	if err := ms.Add(context.Background(), silent); err != nil {
		t.Fatal(err)
	}
	c := newRPC(t, rpc.Config{Channel: caller, Handler: answer("caller")})

	for _, end := range []string{"cancel", "deadline", "close"} {
		ctx, cancel := context.WithCancel(context.Background())
		if end == "deadline" {
			ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.Call(ctx, []channel.Member{silent}, "x", rpc.AllReply, channel.OptUseAck)
			done <- err
		}()
		select {
		case <-peer.Received():
		case err := <-done:
			t.Fatalf("%s: call ended before its request arrived: %v", end, err)
		}
		switch end {
		case "cancel":
			cancel()
		case "close":
			_ = c.Close(context.Background())
		}
		var err error
		select {
		case err = <-done:
		case <-time.After(tcfg.Timeout / 2):
			t.Fatalf("%s: call still running after %v, half of the transport's Timeout", end, tcfg.Timeout/2)
		}
		cancel()
		// Not ctx.Err() read now: the transport's socket deadline, set from ctx's, can
		// end the send before ctx's own timer has marked it done.
		want := map[string]error{"cancel": context.Canceled, "deadline": context.DeadlineExceeded, "close": rpc.ErrClosed}[end]
		if !errors.Is(err, want) {
			t.Fatalf("%s: err = %v, want %v", end, err, want)
		}
	}
	if _, err := c.Call(context.Background(), []channel.Member{silent}, "x", rpc.AllReply, channel.OptUseAck); !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}
