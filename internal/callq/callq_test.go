package callq_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/internal/callq"
)

// TestRunInOrderOneRunner: calls run in the order queued; a call that queues more and
// runs the queue again (a listener stopping the channel) does not run them inside itself:
// they run after it, on the goroutine running the queue.
func TestRunInOrderOneRunner(t *testing.T) {
	var q callq.Queue
	var got []string
	q.Add(func() {
		got = append(got, "a")
		q.Add(func() { got = append(got, "c") })
		q.Run(nil) // returns at once: this goroutine runs the queue already
		got = append(got, "a-end")
	})
	q.Add(func() { got = append(got, "b") })
	q.Run(nil)
	if want := []string{"a", "a-end", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("calls ran as %v, want %v", got, want)
	}
	if !q.Idle() {
		t.Error("Idle() = false after the queue ran")
	}
}

// TestRunAround: every call runs through around.
func TestRunAround(t *testing.T) {
	var q callq.Queue
	n, wrapped := 0, 0
	for range 3 {
		q.Add(func() { n++ })
	}
	q.Run(func(call func()) { wrapped++; call() })
	if n != 3 || wrapped != 3 {
		t.Fatalf("calls %d, through around %d, want 3 and 3", n, wrapped)
	}
}

// TestPanicLeavesTheRestToTheNextRun: a call that panics does not keep the queue running
// for ever: the next Run calls the rest.
func TestPanicLeavesTheRestToTheNextRun(t *testing.T) {
	var q callq.Queue
	ran := false
	q.Add(func() { panic("listener") })
	q.Add(func() { ran = true })
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the call's panic did not reach Run's caller")
			}
		}()
		q.Run(nil)
	}()
	if ran || q.Idle() {
		t.Fatalf("after the panic: the next call ran %v, Idle %v; want false and false", ran, q.Idle())
	}
	q.Run(nil)
	if !ran || !q.Idle() {
		t.Fatalf("after the next Run: the call ran %v, Idle %v; want true and true", ran, q.Idle())
	}
}

// TestRunWait: RunWait returns once done is closed by a queued call (nil even when ctx
// had ended, if its Run closed done), returns ctx's error when ctx ends first, and nil at
// once for a nil done.
func TestRunWait(t *testing.T) {
	var q callq.Queue
	done := make(chan struct{})
	q.Add(func() { close(done) })
	if err := q.RunWait(context.Background(), done); err != nil {
		t.Fatalf("RunWait with done closed by the queue: %v", err)
	}
	if err := q.RunWait(context.Background(), nil); err != nil {
		t.Fatalf("RunWait with a nil done: %v", err)
	}
	ended, end := context.WithCancel(context.Background())
	end()
	done2 := make(chan struct{})
	q.Add(func() { close(done2) })
	for range 100 { // the select between two ready cases would pick either
		if err := q.RunWait(ended, done2); err != nil {
			t.Fatalf("RunWait with an ended ctx and done closed by its Run: %v, want nil", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := q.RunWait(ctx, make(chan struct{})); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RunWait with done never closed: %v, want context.DeadlineExceeded", err)
	}
}

// TestPanicWhileAnotherWaitsReleasesTheWaiter: a call that panicked on the goroutine
// running the queue (a caller that recovers, as net/http's server does) left the rest to
// the next Run, so a RunWait that had queued its calls behind it, on another goroutine,
// waited until its ctx ended (for ever with context.Background) although nothing ran
// them any more: whether the call that panicked was another change's or the first of its
// own. The waiter now runs what is left, and returns once its done is closed.
func TestPanicWhileAnotherWaitsReleasesTheWaiter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ownPanic bool // the waiter's first call panics, not the held call before it
	}{{"an earlier call panics", false}, {"the waiter's first call panics", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var q callq.Queue
				entered, release := make(chan struct{}), make(chan struct{})
				q.Add(func() {
					close(entered)
					<-release
					if !tc.ownPanic {
						panic("listener")
					}
				})
				runner := make(chan any, 1)
				go func() {
					defer func() { runner <- recover() }()
					q.Run(nil)
				}()
				<-entered
				done := make(chan struct{})
				ran := 0
				if tc.ownPanic {
					q.Add(func() { panic("listener") })
				} else {
					q.Add(func() { ran++ })
				}
				q.Add(func() { ran++; close(done) })
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				waited := make(chan error, 1)
				go func() { waited <- q.RunWait(ctx, done) }()
				synctest.Wait() // the waiter waits behind the held call
				close(release)
				if r := <-runner; r == nil {
					t.Fatal("the call's panic did not reach the runner")
				}
				if err := <-waited; err != nil {
					// Before: an hour (of the bubble's time) later, ctx's error.
					t.Fatalf("RunWait behind a call that panicked on another goroutine: %v, want nil", err)
				}
				want := 2
				if tc.ownPanic {
					want = 1
				}
				if ran != want || !q.Idle() {
					t.Fatalf("calls left by the panic ran %d times, Idle %v; want %d and true", ran, q.Idle(), want)
				}
			})
		})
	}
}

// TestInCall: InCall is true inside a queued call, and in what it calls, on the goroutine
// running the queue; false on another goroutine while that call runs, and once the queue
// ran.
func TestInCall(t *testing.T) {
	var q callq.Queue
	if q.InCall() {
		t.Fatal("InCall() = true with nothing running")
	}
	inside, elsewhere := false, true
	entered, checked := make(chan struct{}), make(chan struct{})
	go func() {
		<-entered
		elsewhere = q.InCall()
		close(checked)
	}()
	q.Add(func() {
		inside = func() bool { return q.InCall() }()
		close(entered)
		<-checked
	})
	q.Run(nil)
	if !inside {
		t.Error("InCall() = false inside a queued call")
	}
	if elsewhere {
		t.Error("InCall() = true on another goroutine while a call ran")
	}
	if q.InCall() {
		t.Error("InCall() = true once the queue ran")
	}
}
