package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
)

// batcher coalesces the messages of concurrent Replicate calls into one channel message
// (group commit). At most one batch is being sent at a time, and one is open: a call
// adds its message to the open batch, or opens one and leads it (at once if no send is in
// flight, else when the send in flight ends). The leader first waits for its cohort
// (awaitCohort), then lets the goroutines that are ready to run (requests about to end)
// add theirs, then sends the batch; the others wait for its outcome. So every call
// returns when the channel message that carried its own did, a call on an idle node sends
// at once, and no goroutine is started.
//
// The cohort: under a steady load of the same clients (a pool of connections, each
// sending its next request when the last one was answered), the requests a batch
// released come back within a client's round trip. Left alone, they would trickle into
// two or more batches per round (the first few leave while the others are still on their
// way), each paying a channel message per member and its ACKs. So a leader that gets the
// send slot right after a batch ended waits, up to Config.AckedBatchWait, until its batch
// holds as many messages as were outstanding: the batch that ended, plus what its own
// batch had gathered meanwhile if it had to wait for the slot; a quarter of that time
// without a new message ends the wait early (the rest of the cohort is late). A wait that
// runs out (the clients did not come back: an open load, a slow client, a closing
// connection, a stall of the machine) within missWindow waits of another one turns
// waiting off for a while (minQuietWaits times AckedBatchWait, doubling while it keeps
// happening, up to maxQuietWaits times), so that a noisy machine costs little and loads
// that are not a pool seldom pay it.
//
// Batches travel in BinaryCodec's batch format, which only Go nodes read: a cluster whose
// codec is not a batchCodec (JavaCodec, Tomcat's format) has no batcher.
type batcher struct {
	m  *Manager
	bc batchCodec

	wait time.Duration // Config.AckedBatchWait; <= 0: the leader never waits for its cohort

	mu      sync.Mutex
	sending bool   // a leader holds the send slot
	next    *batch // the open batch: the messages waiting to be sent

	// The cohort (awaitCohort); only the leader holding the send slot uses timer and
	// filled, and reads or writes the others under mu.
	last       int       // size of the last batch sent
	lastEnd    time.Time // when its send ended
	quietUntil time.Time // no waiting before this (waits ran out)
	waits      int       // waits started
	missedAt   int       // waits when one last ran out (0: none yet)
	quiet      int       // how many b.wait the next turning off lasts (0: minQuietWaits)
	timer      *time.Timer
	filled     chan struct{} // the open batch reached its want

	// spare: the messages array of the last batch sent, cleared, for the next batch to
	// open (at most two batches exist at a time, so two arrays serve them all), under mu
	spare []*Message
}

// How many AckedBatchWait periods waits that ran out turn waiting off: minQuietWaits at
// first, twice as many each time it happens again, up to maxQuietWaits.
const (
	minQuietWaits = 4
	maxQuietWaits = 128
)

// missWindow: a wait that runs out within this many waits of the last one that ran out
// turns waiting off.
const missWindow = 16

// maxCohort bounds the size a leader waits for.
const maxCohort = 1 << 12

type batch struct {
	msgs []*Message
	lead chan struct{} // its leader's turn to send, when it had to wait for one
	want int           // the size its leader waits for (awaitCohort); 0: none
	done chan struct{} // closed once the batch was sent and err set
	err  error
	// refused: the messages the codec refused to encode, with why (their calls get that)
	refused refusedSet
}

// send sends msg in a batch with the messages of concurrent calls (to the members at the
// time the batch leaves), and returns the outcome of the channel message that carried it.
func (b *batcher) send(ctx context.Context, msg *Message) error {
	b.mu.Lock()
	if nb := b.next; nb != nil {
		nb.msgs = append(nb.msgs, msg)
		if len(nb.msgs) == nb.want {
			select {
			case b.filled <- struct{}{}: // the leader drains it when its wait ends
			default:
			}
		}
		b.mu.Unlock()
		<-nb.done
		return nb.refused.errFor(msg, nb.err)
	}
	arr := b.spare
	if b.spare = nil; arr == nil {
		arr = make([]*Message, 0, min(max(b.last, 1), maxCohort))
	}
	nb := &batch{msgs: append(arr, msg), done: make(chan struct{})}
	b.next = nb
	wait := b.sending
	if wait {
		nb.lead = make(chan struct{}, 1)
	}
	b.sending = true
	b.mu.Unlock()
	if wait {
		<-nb.lead
	}
	nb.err = errBatchAborted // what the others see if the send panics
	var sent []*Message      // the batch's messages once sent (none if the send panicked)
	defer func() {
		close(nb.done)
		b.handOver(sent)
	}()
	b.awaitCohort(nb, wait)
	msgs := b.gather(nb)
	nb.err = nil
	var err error
	to := b.m.cl.ch.Members()
	if len(to) > 0 { // none: the changes are dropped, as takeDelta does, but with a quorum
		err = b.m.sendBatch(ctx, b.bc, to, msgs, &nb.refused)
	}
	nb.err = b.m.judge(len(to), err)
	sent = msgs
	return nb.refused.errFor(msg, nb.err)
}

// awaitCohort waits, up to b.wait, until the open batch nb, whose leader holds the send
// slot (waited: it had to wait for the batch before to end), holds its cohort: the
// messages of the batch that ended right before, and those nb gathered while waiting. A
// leader that found the slot free waits only if the last batch ended less than b.wait
// ago (its clients may still be on their way back), and then for as many messages as it
// held.
func (b *batcher) awaitCohort(nb *batch, waited bool) {
	if b.wait <= 0 {
		return
	}
	b.mu.Lock()
	now := time.Now()
	want := 0
	switch {
	case now.Before(b.quietUntil):
	case waited:
		want = b.last + len(nb.msgs)
	case now.Sub(b.lastEnd) < b.wait:
		want = b.last
	}
	want = min(want, maxCohort)
	if want <= len(nb.msgs) {
		b.mu.Unlock()
		return
	}
	nb.want = want
	b.waits++
	b.m.stats.batchWaits.Add(1)
	if b.timer == nil {
		b.timer, b.filled = time.NewTimer(time.Hour), make(chan struct{}, 1)
	}
	held := len(nb.msgs)
	b.mu.Unlock()
	// Wait in ticks of a quarter of b.wait, and only while the batch grows: a cohort
	// arrives request after request, so a tick without a new message means the rest of
	// it is late (a client stalled, gone, or not a pool at all), and the batch leaves
	// rather than wait the whole b.wait.
	deadline, tick := now.Add(b.wait), max(b.wait/4, time.Microsecond)
	for filled := false; !filled; {
		b.timer.Reset(min(tick, time.Until(deadline)))
		select {
		case <-b.filled:
			b.timer.Stop()
			filled = true
		case <-b.timer.C:
		}
		b.mu.Lock()
		n := len(nb.msgs)
		b.mu.Unlock()
		if n == held || !time.Now().Before(deadline) {
			break
		}
		held = n
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(nb.msgs) < nb.want {
		b.m.stats.batchWaitsRanOut.Add(1)
		if b.missedAt > 0 && b.waits-b.missedAt < missWindow {
			q := max(b.quiet, minQuietWaits)
			b.quietUntil = time.Now().Add(time.Duration(q) * b.wait)
			b.quiet = min(2*q, maxQuietWaits)
		} else {
			b.quiet = minQuietWaits // a lone miss: start the backoff again
		}
		b.missedAt = b.waits
	}
	nb.want = 0
	select {
	case <-b.filled: // the batch filled as the timer fired
	default:
	}
}

// gather closes the open batch nb, once the goroutines ready to run (requests about to
// end) added theirs (yieldWhileGrowing), and returns its messages.
func (b *batcher) gather(nb *batch) []*Message {
	yieldWhileGrowing(func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(nb.msgs)
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next = nil
	b.last = len(nb.msgs)
	return nb.msgs
}

var errBatchAborted = errors.New("delta: the send of a batch of session messages panicked")

// handOver ends a send: the open batch, if any, gets its leader, and sent, the messages
// of the batch sent (nil if its send panicked), is kept cleared for the next batch to
// open, unless larger than maxCohort: no one reads a sent batch's array any more (its
// calls get their outcome from the batch's err and refused).
func (b *batcher) handOver(sent []*Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wait > 0 {
		b.lastEnd = time.Now()
	}
	if sent != nil && cap(sent) <= maxCohort {
		clear(sent)
		b.spare = sent[:0]
	}
	if nb := b.next; nb != nil {
		nb.lead <- struct{}{} // opened while this send was in flight: it has a lead channel
		return
	}
	b.sending = false
}

// sendBatch sends msgs in one channel message of bc's batch format; a batch that cannot
// be encoded (it would exceed the codec's size limit, or a message in it its other
// limits) is split in two. A message that cannot be encoded on its own is not sent: it
// goes into *refused with the codec's error, and the others are sent without it. A
// batch that members refused (FAIL_ACK) goes to them again in parts (isolateRefused).
func (m *Manager) sendBatch(ctx context.Context, bc batchCodec, to []channel.Member, msgs []*Message, refused *refusedSet) error {
	err := m.transmitBatch(ctx, bc, to, msgs, refused)
	if err == nil || len(msgs) < 2 {
		return err
	}
	return m.isolateRefused(ctx, bc, msgs, err, refused)
}

// transmitBatch is sendBatch without isolateRefused.
func (m *Manager) transmitBatch(ctx context.Context, bc batchCodec, to []channel.Member, msgs []*Message, refused *refusedSet) error {
	if len(msgs) == 1 {
		msg := msgs[0]
		msg.Context = m.cfg.Name
		bp := m.buffer()
		data, err := m.cl.codec.AppendMessage((*bp)[:0], msg)
		if err != nil {
			m.release(bp, data)
			if *refused == nil {
				*refused = refusedSet{}
			}
			(*refused)[msg] = notSent(err)
			return nil
		}
		sent, err := m.transmit(ctx, to, data, m.opts)
		m.release(bp, data)
		if sent {
			m.countSent(msg)
		}
		return err
	}
	for _, msg := range msgs {
		msg.Context = m.cfg.Name
	}
	bp := m.buffer()
	data, err := bc.appendBatch((*bp)[:0], msgs)
	if err != nil {
		m.release(bp, data)
		h := len(msgs) / 2
		return errors.Join(m.sendBatch(ctx, bc, to, msgs[:h], refused), m.sendBatch(ctx, bc, to, msgs[h:], refused))
	}
	sent, err := m.transmit(ctx, to, data, m.opts)
	m.release(bp, data)
	if sent {
		for _, msg := range msgs {
			m.countSent(msg)
		}
	}
	return err
}

// batchMagic starts a BinaryCodec batch: the header of a message with format version 2.
var batchMagic = []byte{0xF5, 'T', 'S', 2}

// batchCodec is implemented by codecs that can carry several session messages in one
// channel message (group commit, see Manager.Replicate). Only BinaryCodec does: Tomcat has
// no such message, so JavaCodec clusters send every message on its own.
type batchCodec interface {
	// appendBatch appends the encoding of msgs, every one with its Context set.
	appendBatch(dst []byte, msgs []*Message) ([]byte, error)
	// ownsBatch is Owns for batches.
	ownsBatch(data []byte) bool
	// decodeBatch parses appendBatch's output; errors wrap ErrMalformed. names, if not
	// nil, holds strings seen in earlier batches (batchNames); arrays, if not nil, the
	// arrays to decode into (recvArrays).
	decodeBatch(data []byte, names *batchNames, arrays *recvArrays) ([]*Message, error)
}

// appendBatch appends a batch of messages:
//
//	F5 'T' 'S' 02 | uvarint n | n × (uvarint length, message as AppendMessage encodes it)
//
// It fails if the result exceeds MaxMessageSize.
func (c BinaryCodec) appendBatch(dst []byte, msgs []*Message) ([]byte, error) {
	if n := c.maxEntries(); len(msgs) > n {
		return dst, fmt.Errorf("%w: a batch of %d messages (MaxEntries %d)", ErrMessageLimit, len(msgs), n)
	}
	b := append(dst, batchMagic...)
	b = binary.AppendUvarint(b, uint64(len(msgs)))
	for _, m := range msgs {
		// A message's length is not known before it is encoded: reserve the longest
		// uvarint a message can need, then move the message down over what is unused.
		at := len(b)
		b = append(b, make([]byte, binary.MaxVarintLen32)...)
		var err error
		if b, err = c.AppendMessage(b, m); err != nil {
			return dst, err
		}
		n := len(b) - at - binary.MaxVarintLen32
		hdr := binary.AppendUvarint(b[at:at], uint64(n))
		copy(b[at+len(hdr):], b[at+binary.MaxVarintLen32:])
		b = b[:at+len(hdr)+n]
	}
	if n := c.maxMessage(); len(b)-len(dst) > n {
		return dst, fmt.Errorf("delta: encoded batch of %d bytes exceeds the limit of %d", len(b)-len(dst), n)
	}
	return b, nil
}

func (BinaryCodec) ownsBatch(data []byte) bool { return bytes.HasPrefix(data, batchMagic) }

// decodeBatch parses appendBatch's output. Every message in it is checked as
// DecodeMessage checks one; attribute values alias data. Its strings equal to one in
// names (nil: none) are names' own, and names keeps the batch's last ones. With arrays
// (not nil), the messages and their actions are decoded into arrays' (recvArrays.take).
func (c BinaryCodec) decodeBatch(data []byte, names *batchNames, arrays *recvArrays) ([]*Message, error) {
	if len(data) > c.maxMessage() {
		return nil, fmt.Errorf("%w: %w: %d bytes exceed the limit of %d", ErrMalformed, ErrMessageLimit, len(data), c.maxMessage())
	}
	if !c.ownsBatch(data) {
		return nil, fmt.Errorf("%w: bad batch header", ErrMalformed)
	}
	r := reader{b: data[len(batchMagic):], maxString: c.maxMessage(), budget: allocFactor * len(data)}
	n := r.count(minBatchedMessage, sizeBatched, c.maxEntries())
	if r.err == nil && n == 0 {
		r.fail("empty batch")
	}
	if r.err != nil {
		return nil, r.decodeErr()
	}
	// One array holds the batch's messages, another their actions.
	all, msgs, acts := arrays.take(n)
	a := batchArena{budget: r.budget, seen: names.load(), acts: acts}
	loaded := a.seen
	for i := range n {
		b := r.take(c.maxMessage(), "message")
		if r.err != nil {
			return nil, r.decodeErr()
		}
		if err := c.decodeInto(&all[i], b, &a); err != nil {
			return nil, err
		}
		msgs[i] = &all[i]
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes after the batch", ErrMalformed)
	}
	names.store(loaded, a.seen)
	arrays.keep(a.acts)
	return msgs, nil
}
