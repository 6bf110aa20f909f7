package interceptors

import (
	"context"
	"fmt"
	"slices"

	"github.com/gotribes/tribes/channel"
)

// The events a stopped TCPFailureDetector passes through during a Stop (its suspects'
// removals, and those the stopping layers below report on the Stop's goroutine) go up
// from a goroutine of the Stop's own, which the Stop waits for within its ctx, so that a
// membership listener that blocks on one does not hold the Stop past its ctx
// (TestFailureDetectorStopReturnsAtItsContextWhileAListenerBlocks).

// stopDel is one Stop under way (beginStop).
type stopDel struct {
	g *runGroup // delivers its events; nil: they go up on the caller's goroutine
}

// beginStop returns the Stop (or failed Start's undo) about to begin: until endStop, a
// stopped detector's events go up from a goroutine of a group of its own (stopDeliver).
// Not when it is made from inside a call the detector made up the stack (a membership
// listener, or a listener of a held message, stopping the channel), as before: the
// events and messages it may have to wait for are those of the goroutine it runs on,
// which the detector tells by that goroutine (callq's InCall: flushHeld, settleHeld), and
// a goroutine of its own would wait for them, and the Stop for it
// (TestFailureDetectorRemovalRunInsideItsHeldMessagesListener).
func (d *TCPFailureDetector) beginStop() *stopDel {
	inCall := d.events.InCall()
	d.mu.Lock()
	defer d.mu.Unlock()
	sd := &stopDel{}
	if !inCall && !d.heldInCallLocked() {
		sd.g = newRunGroup()
	}
	d.stopDels = append(d.stopDels, sd)
	return sd
}

// heldInCallLocked reports whether the caller's goroutine passes up held messages, or
// delivers the events first for them (releaseHeld). Caller holds d.mu.
func (d *TCPFailureDetector) heldInCallLocked() bool {
	for _, sets := range []map[channel.MemberKey]*heldMsgs{d.held, d.leaving} {
		for _, hs := range sets {
			for p := hs; p != nil; p = p.prev {
				if p.passing.InCall() || p.starting.InCall() {
					return true
				}
			}
		}
	}
	return false
}

// stopDeliveryLocked returns the group of the latest Stop under way, a goroutine of it
// counted (stopDeliver starts it), or nil when no Stop is under way or it delivers on the
// caller's goroutine. Caller holds d.mu.
func (d *TCPFailureDetector) stopDeliveryLocked() *runGroup {
	if len(d.stopDels) == 0 {
		return nil
	}
	sg := d.stopDels[len(d.stopDels)-1].g
	if sg != nil {
		sg.wg.Add(1) // under d.mu: endStop has not taken sg out, nor waited for it
	}
	return sg
}

// stopDeliver delivers the events queued (deliver): on the caller's goroutine when sg is
// nil (no Stop under way: the caller is the layer below's, or a sender's, goroutine), or
// else on a goroutine of sg, counted by stopDeliveryLocked. That goroutine delivers the
// events queued meanwhile too, unless another goroutine delivers them (a checking
// goroutine of a stopped run, held in a listener, which the Stop does not wait for).
func (d *TCPFailureDetector) stopDeliver(sg *runGroup) {
	if sg == nil {
		d.deliver(nil)
		return
	}
	go func() {
		defer sg.wg.Done()
		d.deliver(sg)
	}()
}

// endStop ends the Stop sd (beginStop) and waits for its group's goroutines, the events they
// deliver, until ctx ends: it then returns an error wrapping ctx.Err(), and they go on
// in the background, in order, sg left stopping, so that a later Stop and a Start wait
// for them, unless a listener holds them then (see Stop). Once another Start or Stop of
// the channel waits for this one (channel.LifecycleContended), which may be a listener of
// one of those events stopping or restarting the channel, it returns nil without waiting,
// sg left stopping and the levels svc said to be (channel.StillStopping)
// (TestFailureDetectorStopFromTheListenerOfARemovalItReports,
// TestFailureDetectorStopLeftByContentionLeavesTheLevelStopping). A failed Start's undo
// says so too: the channel's next Stop or Start then reaches the detector's Stop, which
// waits for sg, as for a run left stopping
// (TestFailureDetectorFailedStartsUndoContendedWhileAListenerBlocks; channel's
// TestStillStoppingFromAFailedStart).
func (d *TCPFailureDetector) endStop(ctx context.Context, sd *stopDel, svc channel.Service) error {
	d.mu.Lock()
	if i := slices.Index(d.stopDels, sd); i >= 0 {
		d.stopDels = slices.Delete(d.stopDels, i, i+1)
	}
	d.mu.Unlock()
	sg := sd.g
	if sg == nil {
		return nil // delivered on the caller's goroutine
	}
	done := sg.finished() // no goroutine is added to sg once it is out of stopDels
	select {
	case <-done:
		return nil
	case <-channel.LifecycleContended(ctx):
		select {
		case <-done:
		default:
			d.stopping.leave(sg)
			channel.StillStopping(ctx, svc)
		}
		return nil
	case <-ctx.Done():
	}
	select {
	case <-done:
		return nil
	default:
	}
	d.stopping.leave(sg)
	return fmt.Errorf("tcpfailure: stop: membership events still going up (a listener holds them; they go up in the background): %w", ctx.Err())
}
