package interceptors

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// Checking members: one queue of operations per member, drained by one goroutine each,
// and the TCP check itself.

func (d *TCPFailureDetector) schedule(force bool) {
	below := d.Next().Members()
	d.mu.Lock()
	d.initLocked()
	kind := opRecheck
	if force {
		kind = opForced
	}
	var ops []fdOp
	seen := map[channel.MemberKey]bool{}
	for _, m := range below {
		k := m.Key()
		seen[k] = true
		_, verified := d.view[k]
		if force || !verified {
			ops = append(ops, fdOp{kind: kind, m: m})
		}
	}
	for k, s := range d.suspects {
		if !seen[k] {
			ops = append(ops, fdOp{kind: kind, m: s.m})
			seen[k] = true
		}
	}
	for k := range d.addSuspects {
		if !seen[k] {
			delete(d.addSuspects, k) // the layer below no longer has it
		}
	}
	if force {
		for k, m := range d.view {
			if !seen[k] {
				ops = append(ops, fdOp{kind: opForced, m: m})
			}
		}
	}
	d.mu.Unlock()
	for _, o := range ops {
		d.enqueue(o, true)
	}
}

// enqueue runs op after the member's earlier ops, on a goroutine of its own. A stopped
// detector applies it at once without checking (the event passes through, from the
// caller's goroutine, or during a Stop from a goroutine of the Stop's: stopDeliver), or, if a
// stopped run's goroutine still has ops of the member (a Stop did not wait for it), after
// those, as they are applied: unchecked, in the order the events came
// (TestFailureDetectorStoppedRunKeepsTheOrderOfEvents). With skipIfBusy, an op for a
// member that already has work queued is dropped.
func (d *TCPFailureDetector) enqueue(o fdOp, skipIfBusy bool) {
	d.mu.Lock()
	d.initLocked()
	now := d.enqueueLocked(o, skipIfBusy)
	var sg *runGroup
	if now {
		sg = d.stopDeliveryLocked()
	}
	d.mu.Unlock()
	if now {
		d.apply(nil, nil, nil, o)
		d.stopDeliver(sg)
	}
}

// enqueueLocked queues o (see enqueue) and reports whether it is to be applied at once,
// unchecked, by the caller instead. Caller holds d.mu.
func (d *TCPFailureDetector) enqueueLocked(o fdOp, skipIfBusy bool) bool {
	k := o.m.Key()
	q := d.queues[k]
	if d.endLife == nil {
		if q == nil {
			return true
		}
		if !skipIfBusy {
			q.ops = append(q.ops, o) // a stopped run's queue (queues hold running ones only)
		}
		return false
	}
	if q == nil || (q.run != d.run && !q.applying) || (q.run == d.run && q.delivering) {
		nq := &fdQueue{run: d.run}
		if q != nil {
			// A stopped run's queue, whose goroutine the Stop did not wait for (inside a
			// listener call, or between two ops): this run checks the ops it has left at
			// once, first, and that goroutine applies no more
			// (TestFailureDetectorRestartDoesNotWaitForAnOldListener).
			nq.ops, q.ops = q.ops, nil
		}
		q = nq
		d.queues[k] = q
	}
	// A stopped run's goroutine still applying an op of the member (its check ignores its
	// context) keeps the queue: the op goes behind, and is handed to this run once that
	// op is applied (drain), so a member's ops are applied in order whatever the runs
	// (TestFailureDetectorRestartsKeepAMembersOrder).
	if skipIfBusy && q.running {
		return false
	}
	q.ops = append(q.ops, o)
	if !q.running {
		q.running = true
		life, g := d.life, d.run
		g.Go(func() { d.drain(life, g, k, q) })
	}
	return false
}

// drain applies q's ops until none is left, as a goroutine of run g. Once a later run
// began (a Stop does not wait for a goroutine inside a listener call, nor for the other
// goroutines of its run then), that run takes the ops left when it queues one of the
// member (enqueue), unless this goroutine is applying one: they are handed to its queue
// of the member when this goroutine has applied it or finds the run between two ops, in
// the same step, to be checked there. While no run follows, a stopped run's goroutine
// applies its ops, and those of the events reported meanwhile (enqueue), unchecked.
//
// The events an op queued go up (deliver) from this goroutine when q has no op left, and
// otherwise from a goroutine of their own; while this goroutine delivers, an op of k the
// run queues goes to a new queue of its own, checked at once: the events delivered may
// include another member's whose listener blocks, which would hold k's checks meanwhile
// (TestFailureDetectorBlockedRemovalListenerHoldsNoOtherMembersCheck). Once the run
// stopped, such ops go behind the call, as behind a check under way.
func (d *TCPFailureDetector) drain(ctx context.Context, g *runGroup, k channel.MemberKey, q *fdQueue) {
	for {
		d.mu.Lock()
		if d.leaveLocked(g, k, q, true) {
			d.mu.Unlock()
			return
		}
		o := q.ops[0]
		q.ops = q.ops[1:]
		q.applying = true
		d.mu.Unlock()
		if ctx.Err() != nil {
			d.apply(nil, g, q, o)
		} else {
			d.apply(ctx, g, q, o)
		}
		d.mu.Lock()
		q.applying = false
		d.leaveLocked(g, k, q, false) // the ops a later run queued meanwhile go to it now
		more := q.running && len(q.ops) > 0
		q.delivering = !more
		d.mu.Unlock()
		if more {
			g.Go(func() { d.deliver(g) }) // g has not finished: this goroutine is one of it
			continue
		}
		d.deliver(g)
		d.mu.Lock()
		q.delivering = false
		d.mu.Unlock()
	}
}

// leaveLocked ends q's part in run g, handing the ops it has left to the run that began
// since, if one did, or when idle (no op left) is true and q has none, and reports whether
// it did. Caller holds d.mu.
func (d *TCPFailureDetector) leaveLocked(g *runGroup, k channel.MemberKey, q *fdQueue, idle bool) bool {
	if !(idle && len(q.ops) == 0) && (d.run == nil || d.run == g) {
		return false
	}
	ops := q.ops
	q.ops, q.running = nil, false
	if d.queues[k] == q {
		delete(d.queues, k)
	}
	for _, o := range ops {
		d.enqueueLocked(o, false) // a run runs: queued there, never applied here
	}
	return true
}

// apply carries out one op of q (nil: the detector is stopped). ctx nil means "no
// check": added members are taken as alive, gone ones as dead (a stopped detector passes
// events through), and so they are when a Stop cuts their check short; a re-check or a
// forced check that was not made or was cut short changes nothing (a member never found
// alive is not announced as the detector stops:
// TestFailureDetectorStopDuringARecheckAnnouncesNothing). A check that fails while a message of the member arrives counts as
// passed: the message is the fresher news. On a goroutine of run g (nil: the caller's),
// the event going up is marked in g. The caller delivers the event queued (deliver).
func (d *TCPFailureDetector) apply(ctx context.Context, g *runGroup, q *fdQueue, o fdOp) {
	k := o.m.Key()
	// alive reports whether the member answers, and checked whether it was asked.
	alive := func() (ok, checked bool) {
		if ctx == nil {
			return o.kind != opGone, false
		}
		d.mu.Lock()
		heard := q.heard
		d.mu.Unlock()
		ok, checked = d.check(ctx, o.m)
		if !checked { // stopped while checking
			return o.kind != opGone, false
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return ok || q.heard != heard, true
	}
	log := d.log
	switch o.kind {
	case opAdded:
		d.mu.Lock()
		if _, susp := d.suspects[k]; susp {
			// The layer below picked up a member we had kept: nothing to tell.
			delete(d.suspects, k)
			d.view[k] = o.m
			d.mu.Unlock()
			return
		}
		if _, known := d.view[k]; known {
			d.view[k] = o.m
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		ok, _ := alive()
		d.evMu.Lock()
		defer d.evMu.Unlock()
		d.mu.Lock()
		_, known := d.view[k] // listed meanwhile when heard from
		switch {
		case ok:
			delete(d.addSuspects, k)
			d.view[k] = o.m
			if !known {
				d.queueAddedLocked(g, k, o.m)
			}
		case !known:
			d.addSuspects[k] = suspect{m: o.m, since: time.Now()}
			log.Info("tcp failure detector: added member does not answer; not announced yet", "member", o.m.String())
		}
		d.mu.Unlock()

	case opGone:
		d.mu.Lock()
		_, known := d.view[k]
		if !known {
			delete(d.addSuspects, k)
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		ok := !o.m.IsShutdown()
		if ok {
			ok, _ = alive()
		}
		// A member the layer below still lists was reported by a failed send: it answered,
		// so it is no suspect. Should the layer below drop it after this look, its event
		// is queued behind this op.
		listed := false
		if ok {
			_, listed = d.Next().Member(k)
		}
		d.evMu.Lock()
		defer d.evMu.Unlock()
		d.mu.Lock()
		if _, still := d.view[k]; !still {
			d.mu.Unlock()
			return
		}
		switch {
		case ok && listed:
			delete(d.suspects, k)
			d.keptAlive.Add(1)
			log.Info("tcp failure detector: send failed but the member answers; kept", "member", o.m.String())
		case ok && d.endLife != nil:
			// Every report restarts the time, as Tomcat's memberDisappeared does: the
			// member is kept for RemoveSuspectsTimeout from the latest. Once the detector
			// stopped (after this check), it is gone, as the suspects its Stop reported
			// (TestFailureDetectorStopDuringASuspectsCheck).
			d.suspects[k] = suspect{m: d.view[k], since: time.Now()}
			d.keptAlive.Add(1)
			log.Info("tcp failure detector: member reported gone still answers; kept as suspect", "member", o.m.String())
		default:
			d.dropLocked(g, k, o.m)
		}
		d.mu.Unlock()

	case opRecheck, opForced:
		ok, checked := alive()
		if !checked {
			return // no news: the detector is stopped
		}
		d.evMu.Lock()
		defer d.evMu.Unlock()
		d.mu.Lock()
		_, inView := d.view[k]
		s, isSuspect := d.suspects[k]
		switch {
		case ok && !inView:
			// The layer below listed the member when the check was queued, and may have
			// dropped it since (its disappearance, of a member not listed, changed nothing):
			// no heartbeat would re-check it then, nor any event remove it
			// (TestFailureDetectorRecheckOfAMemberDroppedMeanwhile).
			if _, below := d.Next().Member(k); !below {
				break
			}
			delete(d.addSuspects, k)
			d.view[k] = o.m
			d.queueAddedLocked(g, k, o.m)
		case ok && isSuspect && o.kind == opRecheck && d.cfg.RemoveSuspectsTimeout > 0 &&
			time.Since(s.since) > d.cfg.RemoveSuspectsTimeout:
			d.dropLocked(g, k, s.m)
			log.Info("tcp failure detector: suspect kept too long, removed", "member", o.m.String())
		case !ok && inView && (isSuspect || o.kind == opForced):
			d.dropLocked(g, k, o.m)
		case !ok && !inView:
			if _, below := d.Next().Member(k); below {
				d.addSuspects[k] = suspect{m: o.m, since: time.Now()}
			}
		}
		d.mu.Unlock()
	}
}

// check reports whether m answers; checked is false when ctx ended during the check.
func (d *TCPFailureDetector) check(ctx context.Context, m channel.Member) (alive, checked bool) {
	d.probes.Add(1)
	var err error
	if d.cfg.Probe != nil {
		err = d.cfg.Probe(ctx, m)
	} else {
		err = d.tcpCheck(ctx, m)
	}
	if ctx.Err() != nil {
		return false, false
	}
	if err != nil {
		d.failures.Add(1)
		d.log.Info("tcp failure detector: member does not answer", "member", m.String(), "err", err)
		return false, true
	}
	return true, true
}

func (d *TCPFailureDetector) tcpCheck(ctx context.Context, m channel.Member) error {
	dctx, cancel := context.WithTimeout(ctx, d.cfg.ConnectTimeout)
	var dialer net.Dialer
	conn, err := dialer.DialContext(dctx, "tcp", m.Addr())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if d.cfg.NoSendTest {
		return nil
	}
	opts := d.Flag | channel.OptByteMessage
	if d.cfg.PerformReadTest {
		opts |= channel.OptUseAck
	}
	local := d.LocalMember(false)
	frame := wire.AppendChannelDataFrame(nil, uint32(opts), time.Now().UnixMilli(), channel.NewMessageID(),
		wire.AppendMember(nil, &local), tcpFailDetect)
	_ = conn.SetDeadline(time.Now().Add(d.cfg.ReadTestTimeout))
	if _, err := conn.Write(frame); err != nil {
		return fmt.Errorf("send test: %w", err)
	}
	if d.cfg.PerformReadTest {
		var b [1]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			return fmt.Errorf("read test: %w", err)
		}
	}
	return nil
}
