package interceptors

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gotribes/tribes/internal/ctxwait"
)

// runGroup is the goroutines one run of an interceptor started (from its Start to the
// Stop of its last level). Its Stop waits for them within its ctx; those a Stop gave up
// on are left to stopping, which a later Stop and a Start wait for.
//
// Those goroutines call up the stack (membership listeners, hooks), and a listener may
// stop or restart the channel from there: such a Stop or Start runs on a goroutine it
// would wait for. A goroutine marks the group while it is inside such a call (callUp),
// and a Stop or Start does not wait for a group marked when it begins, as the channel's
// Stop does not wait for a heartbeat under way (TestStopFromHeartbeat): the caller may
// be that listener, which cannot return before the Stop does. The trade-off: a Stop made
// elsewhere while a listener is held returns without waiting for the group either; the
// group stays stopping, and a later Stop or Start waits for it unless it is marked again
// (TestNonBlockingCoordinatorStopDoesNotWaitForAHeldListener).
type runGroup struct {
	wg   sync.WaitGroup
	up   atomic.Int32 // goroutines of the group inside a call up the stack
	once sync.Once
	done chan struct{} // closed once every goroutine ended, after finished was called
}

func newRunGroup() *runGroup { return &runGroup{done: make(chan struct{})} }

// Go runs f on a goroutine of g. Not after finished.
func (g *runGroup) Go(f func()) { g.wg.Go(f) }

// callUp runs f, a call up the stack made on a goroutine of g (a listener, a hook), with
// g marked as inside one meanwhile. A nil g runs f unmarked.
func (g *runGroup) callUp(f func()) {
	if g == nil {
		f()
		return
	}
	g.up.Add(1)
	defer g.up.Add(-1)
	f()
}

// callingUp reports whether a goroutine of g is inside a call up the stack.
func (g *runGroup) callingUp() bool { return g.up.Load() > 0 }

// finished returns a channel closed once every goroutine of g ended. No goroutine may be
// added to g once it was called.
func (g *runGroup) finished() <-chan struct{} {
	g.once.Do(func() { go func() { g.wg.Wait(); close(g.done) }() })
	return g.done
}

// stoppingRuns are the runs of an interceptor whose goroutines have not all ended after
// the Stop that ended the run returned.
type stoppingRuns struct {
	mu   sync.Mutex
	runs []*runGroup
}

// stop ends the wait for run g (its goroutines told to end): it waits for g and for the
// runs left earlier, within ctx, but not for a run inside a call up the stack when stop
// begins. When ctx ends first it returns an error wrapping ctx.Err(), and g is waited
// for again by the next stop or await.
func (s *stoppingRuns) stop(ctx context.Context, name string, g *runGroup) error {
	if g != nil {
		s.leave(g)
	}
	return s.await(ctx, name+": stop")
}

// ended reports whether every run left stopping has ended.
func (s *stoppingRuns) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.runs {
		select {
		case <-g.finished():
		default:
			return false
		}
	}
	return true
}

// await waits, within ctx, for the runs left stopping, but not for those inside a call
// up the stack when it begins (they stay stopping).
func (s *stoppingRuns) await(ctx context.Context, what string) error {
	s.mu.Lock()
	s.runs = slices.DeleteFunc(s.runs, func(g *runGroup) bool {
		select {
		case <-g.finished():
			return true
		default:
			return false
		}
	})
	runs := slices.DeleteFunc(slices.Clone(s.runs), (*runGroup).callingUp)
	s.mu.Unlock()
	for _, g := range runs {
		if !ctxwait.Done(ctx, g.finished()) {
			return fmt.Errorf("interceptors: %s: goroutines of the stopped run still run: %w", what, ctx.Err())
		}
		s.mu.Lock()
		s.runs = slices.DeleteFunc(s.runs, func(x *runGroup) bool { return x == g })
		s.mu.Unlock()
	}
	return nil
}

// leave leaves run g stopping without waiting for it: the next stop or await waits for it.
func (s *stoppingRuns) leave(g *runGroup) {
	s.mu.Lock()
	s.runs = append(s.runs, g)
	s.mu.Unlock()
}
