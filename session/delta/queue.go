package delta

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// asyncQueue sends the session messages of a manager whose sends wait for no ACK
// (ReplicateAsync with BinaryCodec) from one goroutine, in batches: the middleware hands
// a request's delta over and answers at once, and whatever was handed over while a batch
// was being sent goes out together in the next channel message, one frame per member.
// After a batch of several messages the next one starts no sooner than the manager's
// AsyncBatchInterval after it (pause), so that under load batches grow; after a lone
// message the next one leaves at once. The goroutine starts with the first message and
// waits for the next ones until the manager stops (a goroutine started per batch would
// grow its stack again each time).
//
// Every message of the manager goes through the queue (Replicate, creations, expiries,
// id changes; callers other than the middleware wait for the outcome of the batch that
// carried theirs), so they leave in the order they were queued. At most one delta of a
// session is queued or being sent at a time: a request that ends meanwhile leaves its
// changes pending, and they are taken and queued when that one was sent. So a failed
// send puts its changes back before any later change of the session was taken, and the
// next message carries them, as Replicate does without the queue.
type asyncQueue struct {
	m        *Manager
	bc       batchCodec
	interval time.Duration // Config.AsyncBatchInterval; 0: no pacing
	quit     chan struct{} // closed by stop: the goroutine no longer paces

	mu      sync.Mutex
	items   []queuedMsg
	running bool      // the goroutine runs
	busy    bool      // it is sending a batch
	stopped bool      // the manager stopped: the goroutine exits once the queue is empty
	work    sync.Cond // on mu: signalled when a message is queued
	idle    sync.Cond // on mu: broadcast when the queue is empty and nothing is being sent

	// Used by the goroutine only.
	spare []queuedMsg
	msgs  []*Message
	next  time.Time   // when the next batch may start (zero: at once)
	timer *time.Timer // for pause

	hadMembers atomic.Bool // the last batch had members to go to
}

// queuedMsg is a message waiting in the queue.
type queuedMsg struct {
	msg     *Message
	s       *Session // the session whose delta msg is, with its queued flag set; nil for others
	actions []Action // what msg carries of s's changes, to put back if the send fails
	done    chan error
}

// add queues a message; the goroutine starts if it is not running.
func (q *asyncQueue) add(it queuedMsg) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(q.items, it)
	if !q.running {
		q.running = true
		go q.run()
	} else if len(q.items) == 1 {
		q.work.Signal()
	}
}

// drain waits until everything queued was sent.
func (q *asyncQueue) drain() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) > 0 || q.busy {
		q.idle.Wait()
	}
}

// stop drains the queue and ends the goroutine. A message queued later starts it again
// until the queue is empty.
func (q *asyncQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stopped {
		close(q.quit)
	}
	q.stopped = true
	q.work.Signal()
	for q.running {
		q.idle.Wait()
	}
}

// send queues msg and waits for the outcome of the batch that carried it, or ctx.
func (q *asyncQueue) send(ctx context.Context, msg *Message) error {
	done := make(chan error, 1)
	q.add(queuedMsg{msg: msg, done: done})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// replicate takes s's delta and queues it; with wait, it returns once it was sent (and
// first waits for a delta of s already queued). Without wait, a delta of s already
// queued makes the changes wait for it, and the call returns at once. The caller holds
// s.sendMu.
func (q *asyncQueue) replicate(ctx context.Context, s *Session, now int64, members, wait bool) (*Message, []Action, error) {
	for {
		s.mu.Lock()
		if s.queued {
			if !wait {
				s.resend = true
				s.mu.Unlock()
				return nil, nil, nil
			}
			if s.sent == nil {
				s.sent = make(chan struct{})
			}
			sent := s.sent
			s.mu.Unlock()
			select {
			case <-sent:
				now = nowMs() // after the wait
				continue
			case <-ctx.Done():
				// The changes still go out, as without wait (else nothing would take
				// them, and changedHere would hold them here): after the delta in flight,
				// or now if it ended meanwhile.
				s.mu.Lock()
				if s.queued {
					s.resend = true
				} else if msg, actions := s.takeDeltaLocked(nowMs(), members); msg != nil {
					s.queued = true
					q.add(queuedMsg{msg: msg, s: s, actions: actions})
				}
				s.mu.Unlock()
				return nil, nil, ctx.Err()
			}
		}
		msg, actions := s.takeDeltaLocked(now, members)
		if msg == nil {
			s.mu.Unlock()
			return nil, nil, nil
		}
		s.queued = true
		it := queuedMsg{msg: msg, s: s, actions: actions}
		if wait {
			it.done = make(chan error, 1)
		}
		q.add(it)
		s.mu.Unlock()
		if !wait {
			return msg, actions, nil
		}
		// The goroutine puts the actions back if the send fails.
		select {
		case err := <-it.done:
			return msg, nil, err
		case <-ctx.Done():
			return msg, nil, ctx.Err()
		}
	}
}

// run sends the queued messages in batches until the queue is empty.
func (q *asyncQueue) run() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		q.busy = false
		for len(q.items) == 0 {
			q.idle.Broadcast()
			if q.stopped {
				q.running = false
				return
			}
			q.work.Wait()
		}
		q.mu.Unlock()
		q.pause()
		yieldWhileGrowing(func() int {
			q.mu.Lock()
			defer q.mu.Unlock()
			return len(q.items)
		})
		q.mu.Lock()
		batch := q.items
		q.items, q.spare, q.busy = q.spare[:0], nil, true
		q.mu.Unlock()
		q.next = time.Time{}
		if q.interval > 0 && len(batch) > 1 {
			q.next = time.Now().Add(q.interval)
		}
		q.sendBatch(batch)
		clear(batch)
		q.spare = batch[:0]
		q.mu.Lock()
	}
}

// pause waits until the next batch may start (Config.AsyncBatchInterval), or the manager
// stops.
func (q *asyncQueue) pause() {
	if q.next.IsZero() {
		return
	}
	d := time.Until(q.next)
	if d <= 0 {
		return
	}
	if q.timer == nil {
		q.timer = time.NewTimer(d)
	} else {
		q.timer.Reset(d)
	}
	select {
	case <-q.timer.C:
	case <-q.quit:
		q.timer.Stop()
	}
}

// sendBatch sends a batch to the current members and settles each message: its waiter
// gets the outcome, its session's flag is cleared, its changes put back if the send
// failed, and the session's changes that waited for it are queued.
func (q *asyncQueue) sendBatch(batch []queuedMsg) {
	m := q.m
	q.msgs = q.msgs[:0]
	for _, it := range batch {
		q.msgs = append(q.msgs, it.msg)
	}
	members := m.cl.ch.Members()
	q.hadMembers.Store(len(members) > 0)
	var err error
	var refused refusedSet
	if len(members) > 0 { // none: the changes are dropped, as takeDelta does
		err = m.judge(len(members), m.sendBatch(context.Background(), q.bc, members, q.msgs, &refused))
	}
	clear(q.msgs)
	var dropped, resent []error
	if len(members) > 0 {
		dropped, resent = q.leaveOutPastLimits(batch, members, err, refused)
	}
	waited := false
	var unheard error       // the failure of a message nobody waits for, to log
	refusedUnheard := false // unheard is the codec's refusal of such a message
	for i, it := range batch {
		err := refused.errFor(it.msg, err)
		cut := dropped != nil && dropped[i] != nil // values left out for the codec's limits
		if cut {
			err = resent[i]
		}
		if it.s != nil {
			q.settle(it, err, len(members) > 0)
		}
		if cut {
			err = errors.Join(dropped[i], err) // droppedPastLimits logged what was left out
		}
		switch {
		case it.done != nil:
			waited = true
			it.done <- err
		case cut:
			if resent[i] != nil && unheard == nil {
				unheard = resent[i]
			}
		case refused[it.msg] != nil && !refusedUnheard:
			unheard, refusedUnheard = err, true
		case err != nil && unheard == nil:
			unheard = err
		}
	}
	// A refusal is logged with its reason (the batch's other messages may have gone out:
	// err is nil), even when others of the batch had a caller to tell
	// (TestAsyncRefusedChangeIsLoggedWithItsReason).
	if unheard != nil && (!waited || refusedUnheard) {
		m.cl.refusals.Log(slog.LevelWarn, m.cfg.Name, "async replication",
			"delta: asynchronous replication failed; the changes go out with the session's next request", "err", unheard)
	}
}

// leaveOutPastLimits handles the deltas of sessions in batch that the codec refused
// for its limits (ErrMessageLimit in refused), as Replicate does (send_limits.go): the
// values that make it refuse one are left out, counted and logged, and the rest goes
// out now, in a batch of the deltas so cut. Put back whole by settle, they would make
// the codec refuse every later delta of their sessions
// (TestAsyncChangePastLimitsDoesNotBlockLaterDeltas). It returns, by index in batch,
// the error naming what each call lost (nil where nothing was left out: then the
// message's outcome is as before) and the outcome of the send of the rest (nil when
// nothing was left to send, whose version is taken back as Replicate does).
func (q *asyncQueue) leaveOutPastLimits(batch []queuedMsg, members []channel.Member, err error, refused refusedSet) (dropped, resent []error) {
	m := q.m
	var again []*Message
	for i, it := range batch {
		why := refused.errFor(it.msg, err)
		if it.s == nil || why == nil || !neverSent(why) || !errors.Is(why, ErrMessageLimit) {
			continue
		}
		kept, out := m.splitPastLimits(it.msg)
		if len(out) == 0 {
			continue // not the values: the delta stays pending whole
		}
		if dropped == nil {
			dropped, resent = make([]error, len(batch)), make([]error, len(batch))
		}
		dropped[i] = m.droppedPastLimits(it.s, it.msg, out, why)
		it.msg.Actions = kept
		batch[i].actions = kept
		if len(kept) > 0 {
			again = append(again, it.msg)
		} else {
			it.s.requeue(it.msg, nil, true) // nothing left to send: only the version goes back
		}
	}
	if len(again) == 0 {
		return dropped, resent
	}
	var refusedAgain refusedSet
	e := m.judge(len(members), m.sendBatch(context.Background(), q.bc, members, again, &refusedAgain))
	for i, it := range batch {
		if dropped != nil && dropped[i] != nil && len(it.msg.Actions) > 0 {
			resent[i] = refusedAgain.errFor(it.msg, e)
		}
	}
	return dropped, resent
}

// settle ends the queued delta it of a session after its send; members says whether
// there were members to send to.
func (q *asyncQueue) settle(it queuedMsg, err error, members bool) {
	s := it.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.valid {
		s.restore(it.actions, s.stampOfDelta(it.msg), neverSent(err))
		s.sendFailedLocked()
	}
	s.queued = false
	if s.sent != nil {
		close(s.sent)
		s.sent = nil
	}
	if !s.resend {
		return
	}
	s.resend = false
	// Queued under s.mu, so that an id change or expiry of the session (which take it)
	// queues its message after this one.
	if msg, actions := s.takeDeltaLocked(nowMs(), members); msg != nil {
		s.queued = true
		q.add(queuedMsg{msg: msg, s: s, actions: actions})
	}
}

// maxGather bounds the yields of yieldWhileGrowing.
const maxGather = 4

// yieldWhileGrowing lets the goroutines that are ready to run (requests about to end) add
// their messages to a batch about to leave, whose size n reports: it yields, and again
// for as long as the yield made the batch grow, up to maxGather times. Under load the
// batch grows (group commit); on an idle node the yield returns at once.
func yieldWhileGrowing(n func() int) {
	k := n()
	for range maxGather {
		runtime.Gosched()
		next := n()
		if next == k {
			return
		}
		k = next
	}
}
