package interceptors

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// The stack docs/interceptors.md recommends ("order,dispatch": Order above MessageDispatch)
// must keep the OnComplete contract: called exactly once per message that Send accepted.
// Order hands one copy of the message per destination down to the dispatcher, each still
// carrying OnComplete, so the dispatcher completes the one message once per destination.
func TestOnCompleteOnceWithOrderAboveDispatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		o := must(NewOrder(OrderConfig{}))
		d := newDispatch(t, DispatchConfig{})
		a := newNode(t, nw, o, d)
		b := newNode(t, nw, must(NewOrder(OrderConfig{})))
		c := newNode(t, nw, must(NewOrder(OrderConfig{})))
		startNodes(t, a, b, c)

		var out outcomes
		err := a.ch.SendMessage(context.Background(), []channel.Member{b.member(), c.member()},
			&channel.Message{Options: channel.OptAsync | channel.OptByteMessage, Data: []byte("one message"), OnComplete: out.cb()})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if len(b.messages()) != 1 || len(c.messages()) != 1 {
			t.Fatalf("delivered: b %d, c %d", len(b.messages()), len(c.messages()))
		}
		if errs := out.get(); len(errs) != 1 {
			t.Fatalf("OnComplete called %d times for one message sent to 2 members (want exactly once): %v", len(errs), errs)
		}
	})
}

// The same with Fragmentation above MessageDispatch: every piece carries OnComplete.
func TestOnCompleteOnceWithFragmentationAboveDispatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		f := must(NewFragmentation(FragmentationConfig{MaxSize: 4}))
		d := newDispatch(t, DispatchConfig{MaxThreads: 1})
		a := newNode(t, nw, f, d)
		b := newNode(t, nw, must(NewFragmentation(FragmentationConfig{MaxSize: 4})))
		startNodes(t, a, b)

		var out outcomes
		err := a.ch.SendMessage(context.Background(), []channel.Member{b.member()},
			&channel.Message{Options: channel.OptAsync | channel.OptByteMessage, Data: []byte("0123456789"), OnComplete: out.cb()})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := b.payloads(); len(got) != 1 || string(got[0]) != "0123456789" {
			t.Fatalf("delivered: %q", got)
		}
		if errs := out.get(); len(errs) != 1 {
			t.Fatalf("OnComplete called %d times for one message sent in 3 pieces (want exactly once): %v", len(errs), errs)
		}
	})
}

// The same with TwoPhaseCommit above MessageDispatch: the message and its confirmation
// share one OnComplete.
func TestOnCompleteOnceWithTwoPhaseAboveDispatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		a := newNode(t, nw, must(NewTwoPhaseCommit(TwoPhaseCommitConfig{})), newDispatch(t, DispatchConfig{MaxThreads: 1}))
		b := newNode(t, nw, must(NewTwoPhaseCommit(TwoPhaseCommitConfig{})))
		startNodes(t, a, b)

		var out outcomes
		if err := sendAsync(t, a, b, []byte("confirmed"), out.cb()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := b.payloads(); len(got) != 1 || string(got[0]) != "confirmed" {
			t.Fatalf("delivered: %q", got)
		}
		if errs := out.get(); len(errs) != 1 || errs[0] != nil {
			t.Fatalf("OnComplete calls %v for a message and its confirmation, want one nil", errs)
		}
	})
}

// The copies' outcomes are joined: Order above MessageDispatch, the copy to c fails below
// the dispatcher, the one to b goes out. OnComplete is called once with a *SendError naming
// c alone, with its cause.
func TestOnCompleteJoinsCopiesErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		fb := &failBelow{}
		a := newNode(t, nw, must(NewOrder(OrderConfig{})), newDispatch(t, DispatchConfig{}), fb)
		b := newNode(t, nw, must(NewOrder(OrderConfig{})))
		c := newNode(t, nw, must(NewOrder(OrderConfig{})))
		startNodes(t, a, b, c)
		fb.set(c.member().Port, channel.ErrConnect)

		var out outcomes
		err := a.ch.SendMessage(context.Background(), []channel.Member{b.member(), c.member()},
			&channel.Message{Options: channel.OptAsync | channel.OptByteMessage, Data: []byte("x"), OnComplete: out.cb()})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		errs := out.get()
		if len(errs) != 1 {
			t.Fatalf("OnComplete called %d times: %v", len(errs), errs)
		}
		f := channel.FaultyMembers(errs[0])
		if len(f) != 1 || f[0].Member.Port != c.member().Port || !errors.Is(errs[0], channel.ErrConnect) {
			t.Fatalf("OnComplete(%v), want a *SendError naming only %s with ErrConnect", errs[0], c.member().Addr())
		}
		if len(b.messages()) != 1 {
			t.Fatalf("b got %d messages", len(b.messages()))
		}
	})
}

// acceptOrRefuse stands for a dispatcher that refuses some copies (Send returns an error,
// so their OnComplete is not called) and accepts the others (Send returns nil, OnComplete
// follows from another goroutine).
type acceptOrRefuse struct {
	channel.InterceptorBase
	refuse int32 // port
	wg     sync.WaitGroup
}

func (r *acceptOrRefuse) SendMessage(_ context.Context, to []channel.Member, msg *channel.Message) error {
	for _, m := range to {
		if m.Port == r.refuse {
			return channel.NewSendError(msg.ID, []channel.FaultyMember{{Member: m, Err: ErrDispatchQueueFull}})
		}
	}
	if cb := msg.OnComplete; cb != nil {
		r.wg.Go(func() { cb(nil) })
	}
	return nil
}

// A split message whose Send returns an error gets no OnComplete, as the contract says,
// even though some copies were accepted and complete.
func TestOnCompleteNotCalledWhenSendFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		top  func() channel.Interceptor
	}{
		{"order", func() channel.Interceptor { return must(NewOrder(OrderConfig{})) }},
		{"fragmentation", func() channel.Interceptor { return must(NewFragmentation(FragmentationConfig{MaxSize: 4})) }},
		{"twophasecommit", func() channel.Interceptor { return must(NewTwoPhaseCommit(TwoPhaseCommitConfig{})) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := channeltest.NewNetwork()
				b, c := newNode(t, nw), newNode(t, nw)
				r := &acceptOrRefuse{}
				a := newNode(t, nw, tc.top(), r)
				startNodes(t, a, b, c)
				r.refuse = c.member().Port
				var out outcomes
				err := a.ch.SendMessage(context.Background(), []channel.Member{b.member(), c.member()},
					&channel.Message{Options: channel.OptAsync | channel.OptByteMessage, Data: []byte("0123456789"), OnComplete: out.cb()})
				r.wg.Wait()
				if f := channel.FaultyMembers(err); len(f) != 1 || f[0].Member.Port != c.member().Port {
					t.Fatalf("Send: %v, want a *SendError naming %s", err, c.member().Addr())
				}
				if errs := out.get(); len(errs) != 0 {
					t.Fatalf("Send returned an error, yet OnComplete was called: %v", errs)
				}
			})
		})
	}
}
