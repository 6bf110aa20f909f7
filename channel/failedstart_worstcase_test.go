package channel_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// lateFailingMembership is channeltest's membership service whose membership-rx Start
// starts the level and then waits for its ctx to end and returns ctx's error, the level
// running (as membership/static does when its ctx ends before its events went up), and
// whose Stop, once the level stopped, waits until release or its own ctx ends.
type lateFailingMembership struct {
	channel.MembershipService
	release chan struct{}

	mu    sync.Mutex
	stops []time.Time // the deadline of each Stop's ctx (zero: none)
}

func (m *lateFailingMembership) Start(ctx context.Context, svc channel.Service, local channel.Member, l channel.MembershipListener) error {
	if err := m.MembershipService.Start(ctx, svc, local, l); err != nil {
		return err
	}
	if svc&channel.SvcMembershipRx == 0 {
		return nil
	}
	<-ctx.Done()
	return fmt.Errorf("late: start %v: %w", svc, ctx.Err())
}

func (m *lateFailingMembership) Stop(ctx context.Context, svc channel.Service) error {
	d, _ := ctx.Deadline()
	m.mu.Lock()
	m.stops = append(m.stops, d)
	m.mu.Unlock()
	if err := m.MembershipService.Stop(ctx, svc); err != nil {
		return err
	}
	select {
	case <-m.release:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("late: membership still stopping: %w", ctx.Err())
	}
}

// TestFailedStartTakesUpToItsContextPlusTheUndoBound: Start's doc said a failed Start
// takes no more than the undo's 5 seconds, or ctx; but a membership service whose Start
// returns ctx's error once ctx ended, its level running, fails the Start at ctx's end,
// and the undo that stops that level still gets its 5 seconds (ctx had ended): a Start
// with a ctx of 3 seconds whose membership's Stop waits returns after 8. The doc now says
// that worst case: a failed Start returns within 5 seconds of starting failing, so up to
// its ctx plus 5 seconds. The level is left stopping, and the next Stop waits for it.
func TestFailedStartTakesUpToItsContextPlusTheUndoBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := channeltest.NewNetwork().NewNode()
		mb := &lateFailingMembership{MembershipService: n.Membership(), release: make(chan struct{})}
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: mb, HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		const timeout = 3 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		began := time.Now()
		err = ch.Start(ctx, channel.SvcAll)
		if took, want := time.Since(began), timeout+5*time.Second; took != want {
			t.Errorf("the failed Start took %v, want %v: its ctx, then the undo's 5 seconds", took, want)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Start = %v, want ctx's error and the stop's", err)
		}
		mb.mu.Lock()
		stops := mb.stops
		mb.mu.Unlock()
		if want := began.Add(timeout + 5*time.Second); len(stops) != 1 || !stops[0].Equal(want) {
			t.Errorf("the membership's Stop was called with deadlines %v, want one, 5s after ctx ended (%v)", stops, want)
		}
		if s := ch.Started(); s != 0 {
			t.Errorf("Started() = %v after the failed Start, want none", s)
		}

		stopped := make(chan error, 1)
		go func() { stopped <- ch.Stop(context.Background(), channel.SvcAll) }()
		synctest.Wait()
		select {
		case err := <-stopped:
			t.Fatalf("Stop returned %v while the membership the failed Start stopped still stopped", err)
		default:
		}
		close(mb.release)
		if err := <-stopped; err != nil {
			t.Fatalf("Stop once the membership's stop finished = %v", err)
		}
	})
}
