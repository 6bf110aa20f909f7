package nio

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// The sender's failures: retries, timeouts, refused and silent members, cancelled
// contexts, a stopped sender, an exhausted pool.

func TestSyncAckFailureIsRetriedAndReported(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		rec := newRecorder(16)
		fail := errors.New("listener failed")
		rec.setErr(func(*channel.Message) error { return fail })
		b := startNode(t, cfg, rec.rx)
		a := startNode(t, testConfig(), nil) // MaxRetryAttempts 1

		msg := a.msg(channel.OptUseAck|channel.OptSyncAck, []byte("x"))
		err := a.t.Send(context.Background(), []channel.Member{b.member}, msg)
		if !errors.Is(err, channel.ErrAckFailed) {
			t.Fatalf("err = %v, want ErrAckFailed", err)
		}
		faulty := channel.FaultyMembers(err)
		if len(faulty) != 1 || !faulty[0].Member.Equal(b.member) {
			t.Fatalf("faulty = %+v", faulty)
		}
		var se *channel.SendError
		if !errors.As(err, &se) || !bytes.Equal(se.MessageID, msg.ID) {
			t.Fatalf("not a SendError for the message: %v", err)
		}
		// Processed twice: the original and one retry, both with the same id.
		for range 2 {
			if got := rec.next(t); !bytes.Equal(got.ID, msg.ID) {
				t.Fatalf("id %x, want %x", got.ID, msg.ID)
			}
		}
		rec.none(t)
		if st := a.t.Stats(); st.Retries != 1 || st.FailAcksReceived != 2 {
			t.Fatalf("sender stats %+v", st)
		}
		// Counted once written, which can be just after the sender read it.
		testutil.EventuallyTrue(t, waitTimeout, "two FAIL_ACKs counted", func() bool { return b.t.Stats().FailAcksSent == 2 })

		// A plain USE_ACK is acknowledged before processing: the listener error is not seen.
		if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, nil)); err != nil {
			t.Fatalf("use-ack send: %v", err)
		}
		rec.next(t)

		// IgnoreFailedAck (throwOnFailedAck=false) counts a FAIL_ACK as success.
		cfg = testConfig()
		cfg.IgnoreFailedAck = true
		c := startNode(t, cfg, nil)
		if err := c.t.Send(context.Background(), []channel.Member{b.member}, c.msg(channel.OptUseAck|channel.OptSyncAck, nil)); err != nil {
			t.Fatalf("IgnoreFailedAck: %v", err)
		}
		rec.next(t)
	})
}

func TestNoRetryWhenDisabled(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		rec := newRecorder(4)
		rec.setErr(func(*channel.Message) error { return errors.New("no") })
		b := startNode(t, ecfg, rec.rx)
		cfg := ecfg
		cfg.MaxRetryAttempts = -1
		a := startNode(t, cfg, nil)
		err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck|channel.OptSyncAck, nil))
		if !errors.Is(err, channel.ErrAckFailed) {
			t.Fatalf("err = %v", err)
		}
		rec.next(t)
		rec.none(t)
	})
}

func TestConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	a := startNode(t, testConfig(), nil)
	dead := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(port), SecurePort: -1, UDPPort: -1}
	err = a.t.Send(context.Background(), []channel.Member{dead}, a.msg(channel.OptUseAck, []byte("hi")))
	if !errors.Is(err, channel.ErrConnect) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want ErrConnect and ECONNREFUSED", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("no *net.OpError in %v", err)
	}
	if st := a.t.Stats(); st.DialFailures != 2 || st.Retries != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAckTimeout(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		srv := newSilentServer(t)
		cfg := ecfg
		cfg.Timeout = 200 * time.Millisecond
		a := startNode(t, cfg, nil)
		err := a.t.Send(context.Background(), []channel.Member{srv.member()}, a.msg(channel.OptUseAck, []byte("hello")))
		if !errors.Is(err, channel.ErrAckTimeout) {
			t.Fatalf("err = %v, want ErrAckTimeout", err)
		}
		if errors.Is(err, channel.ErrConnectionLost) {
			t.Fatalf("timeout also reported as lost connection: %v", err)
		}
		st := a.t.Stats()
		if st.AckTimeouts != 1 || st.Retries != 0 || st.ConnsPooled != 0 {
			t.Fatalf("stats %+v (timeouts are not retried and close the connection)", st)
		}
	})
}

func TestContextCancelledWhileWaitingForAck(t *testing.T) {
	srv := newSilentServer(t)
	a := startNode(t, testConfig(), nil) // Timeout 3 s
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan struct{})
	go func() {
		select {
		case <-srv.received: // the frame arrived; the sender now waits for the ACK
			cancel()
		case <-sent:
		}
	}()
	err := a.t.Send(ctx, []channel.Member{srv.member()}, a.msg(channel.OptUseAck, []byte("hello")))
	close(sent)
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, channel.ErrAckTimeout) {
		t.Fatalf("cancellation reported as ack timeout: %v", err)
	}

	// A context deadline shorter than Timeout ends the send with DeadlineExceeded.
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = a.t.Send(ctx, []channel.Member{srv.member()}, a.msg(channel.OptUseAck, []byte("hello")))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestParallelSendOneDead(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		r1, r2 := newRecorder(4), newRecorder(4)
		b1 := startNode(t, ecfg, r1.rx)
		b2 := startNode(t, ecfg, r2.rx)
		dead := startNode(t, ecfg, nil)
		deadMember := dead.member
		if err := dead.t.Stop(context.Background(), channel.SvcReceiver); err != nil {
			t.Fatal(err)
		}
		a := startNode(t, ecfg, nil)
		for _, mode := range ackModes {
			msg := a.msg(mode.opts, []byte(mode.name))
			err := a.t.Send(context.Background(), []channel.Member{b1.member, deadMember, b2.member}, msg)
			faulty := channel.FaultyMembers(err)
			if len(faulty) != 1 || !faulty[0].Member.Equal(deadMember) || !errors.Is(faulty[0].Err, channel.ErrConnect) {
				t.Fatalf("%s: err = %v", mode.name, err)
			}
			for _, r := range []*recorder{r1, r2} {
				if got := r.next(t); !bytes.Equal(got.ID, msg.ID) {
					t.Fatalf("%s: wrong message", mode.name)
				}
			}
		}
	})
}

// A send to several members, made from the calling goroutine, reports each member's own
// failure with its sentinel and delivers to the others, including a member listed twice on a
// pool of one connection (its second delivery waits for the first, not for itself).
func TestSendToSeveralMembersReportsEach(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		ok := newRecorder(8)
		good := startNode(t, cfg, ok.rx)
		failing := startNode(t, cfg, func(*channel.Message) error { return errors.New("refused") })
		dead := startNode(t, testConfig(), nil)
		deadMember := dead.member
		if err := dead.t.Stop(context.Background(), channel.SvcReceiver); err != nil {
			t.Fatal(err)
		}
		noAddr := good.member
		noAddr.Port = 0
		scfg := testConfig()
		scfg.PoolSize = 1
		a := startNode(t, scfg, nil)

		to := []channel.Member{good.member, failing.member, deadMember, noAddr, good.member}
		want := map[int]error{1: channel.ErrAckFailed, 2: channel.ErrConnect, 3: channel.ErrConnect}
		msg := a.msg(channel.OptUseAck|channel.OptSyncAck, []byte("x"))
		err := a.t.Send(context.Background(), to, msg)
		faulty := channel.FaultyMembers(err)
		if len(faulty) != len(want) {
			t.Fatalf("faulty = %+v, want %d members", faulty, len(want))
		}
		for _, f := range faulty {
			i := slices.IndexFunc(to[1:4], f.Member.Equal) + 1
			if i == 0 || !errors.Is(f.Err, want[i]) {
				t.Fatalf("member %v: err %v, want %v", f.Member.String(), f.Err, want[i])
			}
		}
		for range 2 {
			if got := ok.next(t); !bytes.Equal(got.ID, msg.ID) {
				t.Fatalf("id %x, want %x", got.ID, msg.ID)
			}
		}
		ok.none(t)
		if st := a.t.Stats(); st.MessagesSent != 2 || st.SendErrors != 3 || st.FailAcksReceived != 2 {
			t.Fatalf("sender stats %+v", st)
		}
	})
}

// A member that never answers times out without holding up the others' deliveries.
func TestSendToSeveralMembersOneSilent(t *testing.T) {
	rec := newRecorder(4)
	good := startNode(t, testConfig(), rec.rx)
	silent := newSilentServer(t)
	scfg := testConfig()
	scfg.Timeout = 300 * time.Millisecond
	a := startNode(t, scfg, nil)
	msg := a.msg(channel.OptUseAck, []byte("x"))
	err := a.t.Send(context.Background(), []channel.Member{silent.member(), good.member}, msg)
	faulty := channel.FaultyMembers(err)
	if len(faulty) != 1 || faulty[0].Member.Port != silent.member().Port || !errors.Is(faulty[0].Err, channel.ErrAckTimeout) {
		t.Fatalf("err = %v", err)
	}
	if got := rec.next(t); !bytes.Equal(got.ID, msg.ID) {
		t.Fatalf("id %x, want %x", got.ID, msg.ID)
	}
}

func TestStopSenderInterruptsSend(t *testing.T) {
	srv := newSilentServer(t)
	a := startNode(t, testConfig(), nil)
	errc := make(chan error, 1)
	go func() {
		errc <- a.t.Send(context.Background(), []channel.Member{srv.member()}, a.msg(channel.OptUseAck, []byte("x")))
	}()
	select {
	case <-srv.received:
	case err := <-errc:
		t.Fatalf("send ended early: %v", err)
	}
	if err := a.t.Stop(context.Background(), channel.SvcSender); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, channel.ErrNotStarted) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("send did not return after Stop")
	}
}

func TestPoolExhausted(t *testing.T) {
	srv := newSilentServer(t)
	cfg := testConfig()
	cfg.PoolSize = 1
	cfg.MaxWait = 50 * time.Millisecond
	// The first send holds the only connection until the test cancels it: an ACK timeout
	// that could expire before the second send asks for a connection (a loaded machine)
	// would free the connection and let the second send through.
	cfg.Timeout = waitTimeout
	a := startNode(t, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- a.t.Send(ctx, []channel.Member{srv.member()}, a.msg(channel.OptUseAck, []byte("x")))
	}()
	select {
	case <-srv.received: // the only connection is busy waiting for an ACK
	case err := <-errc:
		t.Fatalf("send ended early: %v", err)
	}
	err := a.t.Send(context.Background(), []channel.Member{srv.member()}, a.msg(channel.OptUseAck, []byte("y")))
	if !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("err = %v", err)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("first send: %v", err)
	}
}

func TestSendWithCancelledContext(t *testing.T) {
	rec := newRecorder(1)
	b := startNode(t, testConfig(), rec.rx)
	a := startNode(t, testConfig(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.t.Send(ctx, []channel.Member{b.member}, a.msg(channel.OptUseAck, nil))
	if !errors.Is(err, context.Canceled) || len(channel.FaultyMembers(err)) != 1 {
		t.Fatalf("err = %v", err)
	}
	rec.none(t)
}

// A connection keeps the interrupt of its sends' context from one send to the next: a
// send with a cancellable context allocates no more than one with context.Background(),
// and a context cancelled while the connection is idle does not interrupt a later send
// with another context on it.
func TestContextInterruptIsKeptPerConnection(t *testing.T) {
	b := startNode(t, testConfig(), func(*channel.Message) error { return nil })
	a := startNode(t, testConfig(), nil)
	to := []channel.Member{b.member}
	msg := a.msg(channel.OptUseAck|channel.OptSyncAck, []byte("hello"))
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	send := func(ctx context.Context) func() {
		return func() {
			if err := a.t.Send(ctx, to, msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(ctx1)() // connects
	background := testing.AllocsPerRun(200, send(context.Background()))
	cancellable := testing.AllocsPerRun(200, send(ctx1))
	if cancellable > background {
		t.Errorf("%v allocations per send with a cancellable context, %v with context.Background()", cancellable, background)
	}

	cancel1() // the connection is idle, its interrupt still registered for ctx1
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	send(ctx2)()
	if err := a.t.Send(ctx1, to, msg); !errors.Is(err, context.Canceled) {
		t.Fatalf("send with the cancelled context: %v", err)
	}
	if st := a.t.Stats(); st.Dials != 1 || st.MessagesSent != 404 {
		t.Fatalf("stats %+v: want one connection, used for every send", st)
	}

	// A heartbeat drops the registration of a connection idle for staleAfter: it does not
	// keep the last send's context reachable.
	c := idleConn(t, a, b.member)
	c.lastUse = time.Now().Add(-staleAfter)
	a.t.Heartbeat()
	c.wmu.Lock()
	kept := c.watchStop != nil
	c.wmu.Unlock()
	if kept {
		t.Fatal("an idle connection kept its interrupt registration past a heartbeat")
	}
	send(ctx2)()
}

// idleConn returns n's only idle pooled connection to m.
func idleConn(t *testing.T, n *node, m channel.Member) *sconn {
	t.Helper()
	p := n.t.snd.Load().pool(poolKey{ip: m.IP(), port: m.Port})
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) != 1 {
		t.Fatalf("%d idle connections, want 1", len(p.idle))
	}
	return p.idle[0]
}

// A send whose round trip completed stands when its context ends right after: here the
// receiver cancels the sender's context as it takes the message, which may run before the
// sender's send has returned (the frame was written; no ACK is asked for).
func TestCompletedSendStandsWhenContextEnds(t *testing.T) {
	var cancelCur atomic.Pointer[context.CancelFunc]
	b := startNode(t, testConfig(), func(*channel.Message) error {
		if c := cancelCur.Load(); c != nil {
			(*c)()
		}
		return nil
	})
	a := startNode(t, testConfig(), nil)
	for i := range 300 {
		ctx, cancel := context.WithCancel(context.Background())
		cancelCur.Store(&cancel)
		if err := a.t.Send(ctx, []channel.Member{b.member}, a.msg(0, []byte("x"))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		select { // delivered: the next send gets a fresh context
		case <-ctx.Done():
		case <-time.After(testutil.WaitLimit):
			t.Fatalf("message %d not delivered", i)
		}
		cancel()
	}
}
