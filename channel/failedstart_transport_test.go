package channel_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

var (
	errTransportStart = errors.New("transport cannot finish starting")
	errAddressInUse   = errors.New("address already in use")
)

// partialTransport is channeltest's transport whose Start of the level fail starts it (a
// bound listener, say) and then fails: with errTransportStart, or, with cancel set, by
// ending Start's ctx and returning its error. A level that runs cannot be started again
// (errAddressInUse), as a port still bound.
type partialTransport struct {
	channel.Transport
	cancel context.CancelFunc

	mu      sync.Mutex
	fail    channel.Service // the level whose Start fails after starting it
	running channel.Service
}

func (p *partialTransport) Start(ctx context.Context, svc channel.Service, rx channel.ReceiveFunc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := svc & p.running; r != 0 {
		return fmt.Errorf("partial: start %v: %w", r, errAddressInUse)
	}
	if err := p.Transport.Start(ctx, svc, rx); err != nil {
		return err
	}
	p.running |= svc & channel.SvcTransport
	if svc&p.fail == 0 {
		return nil
	}
	if p.cancel != nil {
		p.cancel()
		return fmt.Errorf("partial: start %v: %w", svc, ctx.Err())
	}
	return fmt.Errorf("partial: start %v: %w", svc, errTransportStart)
}

func (p *partialTransport) Stop(ctx context.Context, svc channel.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running &^= svc
	return p.Transport.Stop(ctx, svc)
}

func (p *partialTransport) state() (running channel.Service) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// TestFailedStartStopsTheTransportLevelThatFailed: a transport's Start may fail after
// starting the level it was asked for (transport/nio's own Start undoes such a start,
// TestStartFailingOnItsUDPPortLeavesNothingRunning there, but the Transport interface
// did not say it must), or return ctx's error once ctx ended with the level running. The failed
// channel Start's undo stopped only the levels marked started before it, so the level
// went on running (a bound port), the channel reported it stopped, and the next Start
// failed with "address in use". The undo now stops the transport level whose Start
// failed too, as it does the membership level's: nothing runs after the failed Start,
// and the next one starts.
func TestFailedStartStopsTheTransportLevelThatFailed(t *testing.T) {
	for _, lvl := range []channel.Service{channel.SvcReceiver, channel.SvcSender} {
		for _, ended := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v ctx ended %v", lvl, ended), func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				tr := &partialTransport{Transport: channeltest.NewNetwork().NewNode().Transport(), fail: lvl}
				want := errTransportStart
				if ended {
					tr.cancel, want = cancel, context.Canceled
				}
				ch, err := channel.New(channel.Config{Transport: tr, HeartbeatInterval: -1})
				if err != nil {
					t.Fatal(err)
				}
				if err := ch.Start(ctx, channel.SvcTransport); !errors.Is(err, want) {
					t.Fatalf("Start = %v, want %v", err, want)
				}
				if s := ch.Started(); s != 0 {
					t.Errorf("Started() = %v after the failed Start, want none", s)
				}
				if r := tr.state(); r != 0 {
					t.Errorf("the transport still runs %v after the failed Start, want nothing", r)
				}
				tr.mu.Lock()
				tr.fail, tr.cancel = 0, nil
				tr.mu.Unlock()
				if err := ch.Start(context.Background(), channel.SvcTransport); err != nil {
					t.Fatalf("Start after the failed one: %v", err)
				}
				if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
					t.Fatal(err)
				}
				if r := tr.state(); r != 0 {
					t.Errorf("the transport still runs %v after Stop, want nothing", r)
				}
			})
		}
	}
}
