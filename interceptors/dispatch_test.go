package interceptors

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// outcomes collects OnComplete results.
type outcomes struct {
	mu   sync.Mutex
	errs []error
}

func (o *outcomes) cb() func(error) {
	return func(err error) {
		o.mu.Lock()
		o.errs = append(o.errs, err)
		o.mu.Unlock()
	}
}

func (o *outcomes) get() []error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]error(nil), o.errs...)
}

func sendAsync(t *testing.T, from, to *tnode, data []byte, cb func(error)) error {
	t.Helper()
	return from.ch.SendMessage(context.Background(), []channel.Member{to.member()},
		&channel.Message{Options: channel.OptAsync | channel.OptByteMessage, Data: data, OnComplete: cb})
}

func newDispatch(t testing.TB, cfg DispatchConfig) *MessageDispatch {
	t.Helper()
	d, err := NewMessageDispatch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Send returns once the message is queued; the data is copied (the caller may reuse its
// buffer); OnComplete reports the outcome once the message went out.
func TestDispatchAsync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := newDispatch(t, DispatchConfig{})
		a, b := newNode(t, nw, d), newNode(t, nw)
		gate := make(chan struct{})
		b.wait = func(*channel.Message) { <-gate }
		startNodes(t, a, b)

		var out outcomes
		buf := []byte("hello, asynchronous world")
		if err := sendAsync(t, a, b, buf, out.cb()); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXX") // the caller reuses its buffer right away
		synctest.Wait()
		if len(out.get()) != 0 || len(b.messages()) != 0 {
			t.Fatal("completed before the receiver let the message through")
		}
		if s := d.Stats(); s.Queued != 1 || s.PendingCount != 1 || s.QueuedBytes != int64(len(buf)) {
			t.Fatalf("stats while in flight: %+v", s)
		}
		close(gate)
		synctest.Wait()
		if errs := out.get(); len(errs) != 1 || errs[0] != nil {
			t.Fatalf("OnComplete calls: %v", errs)
		}
		if got := b.payloads(); len(got) != 1 || string(got[0]) != "hello, asynchronous world" {
			t.Fatalf("received %q", got)
		}
		if m := b.messages()[0]; m.Options&channel.OptAsync == 0 {
			t.Fatalf("the async bit travels on the wire, as in Java; got options %v", m.Options)
		}
		if s := d.Stats(); s.Sent != 1 || s.PendingCount != 0 || s.QueuedBytes != 0 {
			t.Fatalf("stats after: %+v", s)
		}
	})
}

// Messages without OptAsync go down synchronously and are not queued.
func TestDispatchSyncPassThrough(t *testing.T) {
	nw := channeltest.NewNetwork()
	d := newDispatch(t, DispatchConfig{})
	a, b := newNode(t, nw, d), newNode(t, nw)
	startNodes(t, a, b)
	a.send(t, b, []byte("sync"), channel.OptUseAck)
	if len(b.messages()) != 1 || d.Stats().Queued != 0 {
		t.Fatalf("got %d messages, stats %+v", len(b.messages()), d.Stats())
	}
}

// fullQueue fills a 100-byte queue with one blocked 60-byte message and sends another.
func fullQueue(t *testing.T, failWhenFull bool) (d *MessageDispatch, sendErr error, out *outcomes, b *tnode, release func()) {
	nw := channeltest.NewNetwork()
	d = newDispatch(t, DispatchConfig{MaxQueueSize: 100, FailWhenFull: failWhenFull})
	a := newNode(t, nw, d)
	b = newNode(t, nw)
	gate := make(chan struct{})
	b.wait = func(m *channel.Message) {
		if bytes.HasPrefix(m.Data, []byte("BLOCK")) {
			<-gate
		}
	}
	startNodes(t, a, b)
	out = &outcomes{}
	if err := sendAsync(t, a, b, append([]byte("BLOCK"), make([]byte, 55)...), out.cb()); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	sendErr = sendAsync(t, a, b, append([]byte("next!"), make([]byte, 55)...), out.cb())
	return d, sendErr, out, b, func() { close(gate) }
}

// alwaysSend (the default): a message that does not fit is sent synchronously.
func TestDispatchFullSendsSynchronously(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, err, out, b, release := fullQueue(t, false)
		if err != nil {
			t.Fatalf("send with a full queue: %v", err)
		}
		// Sent on the caller's goroutine: delivered and completed before Send returned.
		if got := b.payloads(); len(got) != 1 || !bytes.HasPrefix(got[0], []byte("next!")) {
			t.Fatalf("received %q", got)
		}
		if errs := out.get(); len(errs) != 1 || errs[0] != nil {
			t.Fatalf("OnComplete: %v", errs)
		}
		if s := d.Stats(); s.SentSync != 1 || s.Queued != 1 {
			t.Fatalf("stats %+v", s)
		}
		release()
		synctest.Wait()
		if n := len(out.get()); n != 2 {
			t.Fatalf("%d completions, want 2", n)
		}
	})
}

// alwaysSend=false: a message that does not fit is refused and OnComplete is not called.
func TestDispatchFullFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, err, out, _, release := fullQueue(t, true)
		if !errors.Is(err, ErrDispatchQueueFull) {
			t.Fatalf("err = %v, want ErrDispatchQueueFull", err)
		}
		if s := d.Stats(); s.Rejected != 1 {
			t.Fatalf("stats %+v", s)
		}
		release()
		synctest.Wait()
		if errs := out.get(); len(errs) != 1 || errs[0] != nil {
			t.Fatalf("OnComplete only for the queued message: %v", errs)
		}
	})
}

// OnComplete carries the typed error of the layers below.
func TestDispatchTypedError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		a := newNode(t, nw, newDispatch(t, DispatchConfig{}))
		b := newNode(t, nw)
		startNodes(t, a, b)
		bm := b.member()
		nw.Kill(b.net)
		var out outcomes
		err := a.ch.SendMessage(context.Background(), []channel.Member{bm},
			&channel.Message{Options: channel.OptAsync, Data: []byte("x"), OnComplete: out.cb()})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		errs := out.get()
		if len(errs) != 1 {
			t.Fatalf("%d completions", len(errs))
		}
		var se *channel.SendError
		if !errors.As(errs[0], &se) || !errors.Is(errs[0], channel.ErrConnect) || se.Faulty[0].Member.Port != bm.Port {
			t.Fatalf("OnComplete(%v), want a *SendError with ErrConnect for %s", errs[0], bm.Addr())
		}
	})
}

// Stop lets the workers send everything queued.
func TestDispatchStopDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := newDispatch(t, DispatchConfig{MaxThreads: 3})
		bl := newBlocker()
		a := newNode(t, nw, d, bl)
		b := newNode(t, nw)
		startNodes(t, a, b)
		var out outcomes
		for i := range 20 {
			if err := sendAsync(t, a, b, seqData(i, 8), out.cb()); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if in, _, _ := bl.stats(); in != 3 {
			t.Fatalf("%d sends in flight, want MaxThreads=3", in)
		}
		stopped := make(chan error)
		go func() { stopped <- a.ch.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		close(bl.release)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		errs := out.get()
		if len(errs) != 20 {
			t.Fatalf("%d completions, want 20", len(errs))
		}
		for _, e := range errs {
			if e != nil {
				t.Fatalf("completion error %v", e)
			}
		}
		if len(b.messages()) != 20 {
			t.Fatalf("%d delivered", len(b.messages()))
		}
		if _, peak, _ := bl.stats(); peak != 3 {
			t.Fatalf("peak concurrency %d, want 3", peak)
		}
		if err := sendAsync(t, a, b, []byte("late"), out.cb()); !errors.Is(err, ErrDispatchStopped) {
			t.Fatalf("send after stop: %v", err)
		}
	})
}

// When Stop's context ends, queued messages fail with ErrDispatchStopped and sends in
// progress are cancelled; every message completes exactly once. Stop returns ctx's error
// when it ends (the cancelled sends end just after), and a later Stop finds them ended.
func TestDispatchStopTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		d := newDispatch(t, DispatchConfig{MaxThreads: 2})
		bl := newBlocker() // never released: sends end only by cancellation
		a := newNode(t, nw, d, bl)
		b := newNode(t, nw)
		startNodes(t, a, b)
		var out outcomes
		for i := range 10 {
			if err := sendAsync(t, a, b, seqData(i, 8), out.cb()); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if err := a.ch.Stop(ctx, channel.SvcAll); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Stop: %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("Stop took %v, want the 1 s context", d)
		}
		synctest.Wait()
		if err := d.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatalf("Stop again once the cancelled sends ended: %v", err)
		}
		errs := out.get()
		if len(errs) != 10 {
			t.Fatalf("%d completions, want 10", len(errs))
		}
		for _, e := range errs {
			if !errors.Is(e, ErrDispatchStopped) {
				t.Fatalf("completion %v, want ErrDispatchStopped", e)
			}
		}
		if s := d.Stats(); s.Failed != 10 || s.PendingCount != 0 || s.QueuedBytes != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestDispatchNotRunning(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newNode(t, nw, newDispatch(t, DispatchConfig{})), newNode(t, nw)
	startNodes(t, b)
	called := false
	err := sendAsync(t, a, b, []byte("x"), func(error) { called = true })
	if !errors.Is(err, ErrDispatchStopped) || called {
		t.Fatalf("err %v, OnComplete called %v", err, called)
	}
}

// Concurrent async senders under -race: everything arrives, every callback runs once.
func TestDispatchConcurrent(t *testing.T) {
	nw := channeltest.NewNetwork()
	d := newDispatch(t, DispatchConfig{MaxQueueSize: 4 << 10})
	a, b := newNode(t, nw, d), newNode(t, nw)
	startNodes(t, a, b)
	var wg sync.WaitGroup
	var done sync.WaitGroup
	const senders, each = 8, 200
	done.Add(senders * each)
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				err := sendAsync(t, a, b, seqData(s*each+i, 100), func(err error) {
					if err != nil {
						t.Error(err)
					}
					done.Done()
				})
				if err != nil {
					t.Error(err)
					done.Done()
				}
			}
		})
	}
	wg.Wait()
	done.Wait()
	if n := len(b.messages()); n != senders*each {
		t.Fatalf("%d delivered", n)
	}
	if s := d.Stats(); s.Queued+s.SentSync != senders*each {
		t.Fatalf("stats %+v", s)
	}
}

func TestDispatchConfig(t *testing.T) {
	d := newDispatch(t, DispatchConfig{})
	if c := d.Config(); c.MaxQueueSize != 64<<20 || c.MaxThreads != 10 || c.FailWhenFull {
		t.Fatalf("defaults %+v", c)
	}
	if d.OptionFlag() != channel.OptAsync {
		t.Fatalf("flag %v", d.OptionFlag())
	}
	ics, err := Build("dispatch(maxQueueSize=1024;maxThreads=2;alwaysSend=false;keepAliveTime=5000;maxSpareThreads=2;useDeepClone=false)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := ics[0].(*MessageDispatch).Config(); c.MaxQueueSize != 1024 || c.MaxThreads != 2 || !c.FailWhenFull {
		t.Fatalf("built %+v", c)
	}
	if _, err := NewMessageDispatch(DispatchConfig{MaxThreads: -1}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatal(err)
	}
}
