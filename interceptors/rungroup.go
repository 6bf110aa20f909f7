package interceptors

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/gotribes/tribes/internal/ctxwait"
)

// runGroup is the goroutines one run of an interceptor started (from its Start to the
// Stop of its last level). Its Stop waits for them within its ctx; those a Stop gave up
// on are left to stopping, which a later Stop and a Start wait for.
//
// Those goroutines call up the stack (membership listeners, hooks), and a listener may
// stop or restart the channel from there: such a Stop or Start runs on the very goroutine
// it would wait for. A group knows its goroutines, so that a Stop or Start made on one of
// them does not wait for it (it cannot end before that call returns), as the channel does
// not wait for a heartbeat under way (TestStopFromHeartbeat).
type runGroup struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	ids  map[uint64]bool // the goroutines running
	once sync.Once
	done chan struct{} // closed once every goroutine ended, after finished was called
}

func newRunGroup() *runGroup {
	return &runGroup{ids: map[uint64]bool{}, done: make(chan struct{})}
}

// Go runs f on a goroutine of g. Not after finished.
func (g *runGroup) Go(f func()) {
	g.wg.Go(func() {
		id := goroutineID()
		g.mu.Lock()
		g.ids[id] = true
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			delete(g.ids, id)
			g.mu.Unlock()
		}()
		f()
	})
}

// finished returns a channel closed once every goroutine of g ended. No goroutine may be
// added to g once it was called.
func (g *runGroup) finished() <-chan struct{} {
	g.once.Do(func() { go func() { g.wg.Wait(); close(g.done) }() })
	return g.done
}

// calledFromOwn reports whether the caller runs on one of g's goroutines.
func (g *runGroup) calledFromOwn() bool {
	id := goroutineID()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ids[id]
}

// goroutineID returns the id of the calling goroutine, as its stack trace's first line
// ("goroutine 42 [running]:") gives it.
func goroutineID() uint64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	b := buf[:n]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	var id uint64
	for _, c := range b[len(prefix):] {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

// stoppingRuns are the runs of an interceptor whose goroutines have not all ended after
// the Stop that ended the run returned.
type stoppingRuns struct {
	mu   sync.Mutex
	runs []*runGroup
}

// stop ends the wait for run g (its goroutines told to end): it waits for g and for the
// runs left earlier, within ctx, but not for a run the caller is a goroutine of. When ctx
// ends first it returns an error wrapping ctx.Err(), and g is waited for again by the next
// stop or await.
func (s *stoppingRuns) stop(ctx context.Context, name string, g *runGroup) error {
	if g != nil {
		s.mu.Lock()
		s.runs = append(s.runs, g)
		s.mu.Unlock()
	}
	return s.await(ctx, name+": stop")
}

// await waits, within ctx, for the runs left stopping, but not for one the caller is a
// goroutine of.
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
	runs := slices.Clone(s.runs)
	s.mu.Unlock()
	for _, g := range runs {
		if g.calledFromOwn() {
			continue
		}
		if !ctxwait.Done(ctx, g.finished()) {
			return fmt.Errorf("interceptors: %s: goroutines of the stopped run still run: %w", what, ctx.Err())
		}
		s.mu.Lock()
		s.runs = slices.DeleteFunc(s.runs, func(x *runGroup) bool { return x == g })
		s.mu.Unlock()
	}
	return nil
}
