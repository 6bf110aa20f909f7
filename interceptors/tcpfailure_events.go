package interceptors

import (
	"slices"

	"github.com/gotribes/tribes/channel"
)

// The membership events a TCPFailureDetector passes up: queued in the order of the view
// changes, delivered one at a time outside the detector's locks, a member's addition and
// removal still to go up coalesced.

// fdEvKind tells which events may be coalesced.
type fdEvKind uint8

const (
	evOther fdEvKind = iota // a step that is not a plain event (held messages' marks and flushes)
	evAdded                 // a plain MemberAdded
	evGone                  // a plain MemberDisappeared
)

// fdEvent is one call queued to go up.
type fdEvent struct {
	k    channel.MemberKey
	kind fdEvKind
	g    *runGroup // the run that does not finish before it went up (nil: none)
	f    func()
}

// queueUp queues an event, with evMu held: events queue in the order of the view changes.
// Run g (nil: none) of the goroutine queuing it does not finish before it went up, and is
// marked as inside a call up while it goes up.
//
// A plain removal (kind evGone) whose member's latest event still queued is a plain
// addition (evAdded) cancels it instead of being queued: the listeners never had that
// addition, and the pair changes nothing they would see once they had both, so a member
// that flaps while a membership listener blocks keeps at most a removal and an addition
// queued, and the listeners' view, once they had the events, is the detector's
// (TestFailureDetectorFlappingMemberBehindABlockedListenerStaysBounded). The member's
// additions and removals still alternate: no addition is told twice. A removal followed
// by an addition is not cancelled: the listeners learn that the member left and came
// back (a replicated map sends it its state again), as they would without the block
// (TestFailureDetectorRestartsKeepAMembersOrder).
func (d *TCPFailureDetector) queueUp(g *runGroup, kind fdEvKind, up func(channel.Member), m channel.Member) {
	k := m.Key()
	if kind != evOther {
		d.evqMu.Lock()
		last := d.lastEv[k]
		if last != nil && last.kind == evAdded && kind == evGone {
			i := slices.Index(d.evq, last)
			d.evq = slices.Delete(d.evq, i, i+1)
			d.addsQueued.Add(-1)
			d.evSpare++ // its call in events runs nothing
			delete(d.lastEv, k)
			for j := i - 1; j >= 0; j-- {
				if d.evq[j].k == k {
					d.lastEv[k] = d.evq[j]
					break
				}
			}
			d.evqMu.Unlock()
			if last.g != nil {
				last.g.wg.Done()
			}
			return
		}
		d.evqMu.Unlock()
	}
	if g != nil {
		g.wg.Add(1) // the caller is a goroutine of g, or holds g (runHoldLocked): g has not finished
	}
	d.pushEvent(&fdEvent{k: k, kind: kind, g: g, f: func() {
		if g != nil {
			defer g.wg.Done()
		}
		g.callUp(func() { up(m) })
	}})
}

// pushEvent queues e behind the others, with evMu held, and a call of events to run it:
// each call runs the first event queued, so the calls of cancelled events (evSpare) run
// the next ones, or nothing.
func (d *TCPFailureDetector) pushEvent(e *fdEvent) {
	d.evqMu.Lock()
	if d.lastEv == nil {
		d.lastEv = map[channel.MemberKey]*fdEvent{}
	}
	d.evq = append(d.evq, e)
	if e.kind == evAdded {
		d.addsQueued.Add(1)
	}
	d.lastEv[e.k] = e
	spare := d.evSpare > 0
	if spare {
		d.evSpare--
	}
	d.evqMu.Unlock()
	if !spare {
		d.events.Add(d.runEvent)
	}
}

// runEvent runs the first event queued, if any (see pushEvent).
func (d *TCPFailureDetector) runEvent() {
	d.evqMu.Lock()
	if len(d.evq) == 0 {
		d.evSpare--
		d.evqMu.Unlock()
		return
	}
	e := d.evq[0]
	d.evq[0] = nil
	d.evq = d.evq[1:]
	if d.lastEv[e.k] == e {
		delete(d.lastEv, e.k)
	}
	if e.kind == evAdded {
		d.addsQueued.Add(-1)
	}
	d.evqMu.Unlock()
	e.f()
}

// additionQueued reports whether the latest event of k still queued is a plain addition:
// the listeners have not been told of k yet, and its removal would cancel that addition
// (queueUp). Cheap while no addition is queued (the receive path of a listed member).
func (d *TCPFailureDetector) additionQueued(k channel.MemberKey) bool {
	if d.addsQueued.Load() == 0 {
		return false
	}
	d.evqMu.Lock()
	defer d.evqMu.Unlock()
	e := d.lastEv[k]
	return e != nil && e.kind == evAdded
}

// queuedEvents returns how many events wait to go up, and how many calls the events queue
// holds for them (for tests: both stay bounded while a listener blocks).
func (d *TCPFailureDetector) queuedEvents() (events, calls int) {
	d.evqMu.Lock()
	defer d.evqMu.Unlock()
	return len(d.evq), d.events.Len()
}

// deliver passes the queued events up, in order and one at a time, outside evMu: a
// listener may stop the channel, whose membership then reports members gone on this
// goroutine (TestFailureDetectorListenerStopsTheChannel). One goroutine delivers at a
// time: an event queued meanwhile, by the listener's own calls too, goes up after the one
// under way, from the goroutine delivering. g is the caller's run (nil: none), marked as
// inside a call up meanwhile, as is the run that queued the event.
func (d *TCPFailureDetector) deliver(g *runGroup) {
	d.events.Run(g.callUp)
}
