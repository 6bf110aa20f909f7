package interceptors

import (
	"context"
	"errors"
	"fmt"
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

// acceptOrRefuse stands for a dispatcher that refuses the copy of one member (its Send
// returns a *channel.SendError naming it) and accepts the others, whose OnComplete follows
// from another goroutine: nil, or a *channel.SendError naming the member failLater with
// ErrAckTimeout, as a queued copy whose send failed.
type acceptOrRefuse struct {
	channel.InterceptorBase
	refuse, failLater int32 // ports
	wg                sync.WaitGroup
}

func (r *acceptOrRefuse) SendMessage(_ context.Context, to []channel.Member, msg *channel.Message) error {
	var refused, later []channel.FaultyMember
	accepted := 0
	for _, m := range to {
		switch m.Port {
		case r.refuse:
			refused = append(refused, channel.FaultyMember{Member: m, Err: ErrDispatchQueueFull})
		case r.failLater:
			later = append(later, channel.FaultyMember{Member: m, Err: channel.ErrAckTimeout})
			accepted++
		default:
			accepted++
		}
	}
	if cb := msg.OnComplete; cb != nil && accepted > 0 {
		id := msg.ID
		r.wg.Go(func() { cb(channel.NewSendError(id, later)) })
	}
	return channel.NewSendError(msg.ID, refused)
}

// A message split into copies whose Send fails for one member (its copy refused) while
// the copies to the others were accepted: Send returns a *channel.SendError naming that
// member only, and OnComplete is called once the accepted copies completed, with their
// outcome and only theirs: nil, or a *channel.SendError naming the member whose accepted
// copy failed later. When every destination's copy is refused, OnComplete is not called.
// (Found when OnComplete was never called after a failed Send: the accepted copies went
// out, and their outcome, a failure included, was reported to no one.)
func TestOnCompleteReportsAcceptedCopiesAfterFailedSend(t *testing.T) {
	for _, tc := range []struct {
		name string
		top  func() channel.Interceptor
	}{
		{"order", func() channel.Interceptor { return must(NewOrder(OrderConfig{})) }},
		{"fragmentation", func() channel.Interceptor { return must(NewFragmentation(FragmentationConfig{MaxSize: 4})) }},
		{"twophasecommit", func() channel.Interceptor { return must(NewTwoPhaseCommit(TwoPhaseCommitConfig{})) }},
	} {
		for _, fail := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/acceptedFails=%v", tc.name, fail), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					nw := channeltest.NewNetwork()
					b, c, d := newNode(t, nw), newNode(t, nw), newNode(t, nw)
					r := &acceptOrRefuse{}
					a := newNode(t, nw, tc.top(), r)
					startNodes(t, a, b, c, d)
					r.refuse = c.member().Port
					if fail {
						r.failLater = d.member().Port
					}
					var out outcomes
					err := a.ch.SendMessage(context.Background(), []channel.Member{b.member(), c.member(), d.member()},
						&channel.Message{Options: channel.OptAsync | channel.OptByteMessage, Data: []byte("0123456789"), OnComplete: out.cb()})
					r.wg.Wait()
					if f := channel.FaultyMembers(err); len(f) != 1 || f[0].Member.Port != c.member().Port {
						t.Fatalf("Send: %v, want a *SendError naming %s", err, c.member().Addr())
					}
					errs := out.get()
					if len(errs) != 1 {
						t.Fatalf("OnComplete called %d times (%v), want once with the accepted copies' outcome", len(errs), errs)
					}
					f := channel.FaultyMembers(errs[0])
					switch {
					case !fail && errs[0] != nil:
						t.Errorf("OnComplete(%v), want nil: the accepted copies went out", errs[0])
					case fail && (len(f) != 1 || f[0].Member.Port != d.member().Port || !errors.Is(errs[0], channel.ErrAckTimeout)):
						t.Errorf("OnComplete(%v), want a *SendError naming only %s with ErrAckTimeout", errs[0], d.member().Addr())
					}

					// Every destination refused: no copy was accepted, and OnComplete is not called.
					var none outcomes
					err = a.ch.SendMessage(context.Background(), []channel.Member{c.member()},
						&channel.Message{Options: channel.OptAsync | channel.OptByteMessage, Data: []byte("0123456789"), OnComplete: none.cb()})
					r.wg.Wait()
					if f := channel.FaultyMembers(err); len(f) != 1 || f[0].Member.Port != c.member().Port {
						t.Fatalf("Send to the refused member alone: %v", err)
					}
					if errs := none.get(); len(errs) != 0 {
						t.Fatalf("no copy was accepted, yet OnComplete was called: %v", errs)
					}
				})
			})
		}
	}
}

// The same with the real dispatcher's synchronous fallback (a queue too small for the
// message): a send to b and c whose copy to c fails below the dispatcher returns a
// *channel.SendError naming c, and OnComplete is called once with nil, b's outcome;
// with Order above the dispatcher too (each copy sent on its own).
func TestOnCompleteAfterPartlyFailedSynchronousFallback(t *testing.T) {
	for _, withOrder := range []bool{false, true} {
		t.Run(fmt.Sprintf("order=%v", withOrder), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := channeltest.NewNetwork()
				fb := &failBelow{}
				stack := []channel.Interceptor{newDispatch(t, DispatchConfig{MaxQueueSize: 1}), fb}
				peer := func() []channel.Interceptor { return nil }
				if withOrder {
					stack = append([]channel.Interceptor{must(NewOrder(OrderConfig{}))}, stack...)
					peer = func() []channel.Interceptor { return []channel.Interceptor{must(NewOrder(OrderConfig{}))} }
				}
				a := newNode(t, nw, stack...)
				b, c := newNode(t, nw, peer()...), newNode(t, nw, peer()...)
				startNodes(t, a, b, c)
				fb.set(c.member().Port, channel.ErrConnect)
				var out outcomes
				err := a.ch.SendMessage(context.Background(), []channel.Member{b.member(), c.member()},
					&channel.Message{Options: channel.OptAsync | channel.OptByteMessage, Data: []byte("too long"), OnComplete: out.cb()})
				synctest.Wait()
				if f := channel.FaultyMembers(err); len(f) != 1 || f[0].Member.Port != c.member().Port || !errors.Is(err, channel.ErrConnect) {
					t.Fatalf("Send: %v, want a *SendError naming %s", err, c.member().Addr())
				}
				if errs := out.get(); len(errs) != 1 || errs[0] != nil {
					t.Fatalf("OnComplete calls %v, want one nil: b got the message", errs)
				}
				if len(b.messages()) != 1 {
					t.Fatalf("b got %d messages", len(b.messages()))
				}
			})
		})
	}
}
