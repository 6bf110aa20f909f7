package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/gotribes/tribes/channel"
)

// batcher coalesces the messages of concurrent Replicate calls into one channel message
// (group commit). At most one batch is being sent at a time, and one is open: a call
// adds its message to the open batch, or opens one and leads it (at once if no send is in
// flight, else when the send in flight ends). The leader first lets the goroutines that
// are ready to run (requests about to end) add theirs, then sends the batch; the others
// wait for its outcome. So every call returns when the channel message that carried its
// own did, a call on an idle node sends at once, and no goroutine is started.
//
// Batches travel in BinaryCodec's batch format, which only Go nodes read: a cluster whose
// codec is not a batchCodec (JavaCodec, Tomcat's format) has no batcher.
type batcher struct {
	m  *Manager
	bc batchCodec

	mu      sync.Mutex
	sending bool   // a leader holds the send slot
	next    *batch // the open batch: the messages waiting to be sent
}

type batch struct {
	msgs []*Message
	lead chan struct{} // its leader's turn to send, when it had to wait for one
	done chan struct{} // closed once the batch was sent and err set
	err  error
}

// send sends msg in a batch with the messages of concurrent calls (to the members at the
// time the batch leaves), and returns the outcome of the channel message that carried it.
func (b *batcher) send(ctx context.Context, msg *Message) error {
	b.mu.Lock()
	if nb := b.next; nb != nil {
		nb.msgs = append(nb.msgs, msg)
		b.mu.Unlock()
		<-nb.done
		return nb.err
	}
	nb := &batch{msgs: []*Message{msg}, done: make(chan struct{})}
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
	defer func() {
		close(nb.done)
		b.handOver()
	}()
	msgs := b.gather(nb)
	nb.err = nil
	if to := b.m.cl.ch.Members(); len(to) > 0 { // none: the changes are dropped, as takeDelta does
		nb.err = b.m.tolerate(b.m.sendBatch(ctx, b.bc, to, msgs))
	}
	return nb.err
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
	return nb.msgs
}

var errBatchAborted = errors.New("delta: the send of a batch of session messages panicked")

// handOver ends a send: the open batch, if any, gets its leader.
func (b *batcher) handOver() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if nb := b.next; nb != nil {
		nb.lead <- struct{}{} // opened while this send was in flight: it has a lead channel
		return
	}
	b.sending = false
}

// sendBatch sends msgs in one channel message of bc's batch format; a batch that would
// exceed the codec's size limit is split in two.
func (m *Manager) sendBatch(ctx context.Context, bc batchCodec, to []channel.Member, msgs []*Message) error {
	if len(msgs) == 1 {
		return m.sendTo(ctx, to, msgs[0], m.opts)
	}
	for _, msg := range msgs {
		msg.Context = m.cfg.Name
	}
	bp := m.buffer()
	data, err := bc.appendBatch((*bp)[:0], msgs)
	if err != nil {
		m.release(bp, data)
		h := len(msgs) / 2
		return errors.Join(m.sendBatch(ctx, bc, to, msgs[:h]), m.sendBatch(ctx, bc, to, msgs[h:]))
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
	// decodeBatch parses appendBatch's output; errors wrap ErrMalformed.
	decodeBatch(data []byte) ([]*Message, error)
}

// appendBatch appends a batch of messages:
//
//	F5 'T' 'S' 02 | uvarint n | n × (uvarint length, message as AppendMessage encodes it)
//
// It fails if the result exceeds MaxMessageSize.
func (c BinaryCodec) appendBatch(dst []byte, msgs []*Message) ([]byte, error) {
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
// DecodeMessage checks one; attribute values alias data.
func (c BinaryCodec) decodeBatch(data []byte) ([]*Message, error) {
	if len(data) > c.maxMessage() {
		return nil, fmt.Errorf("%w: %d bytes exceed the limit of %d", ErrMalformed, len(data), c.maxMessage())
	}
	if !c.ownsBatch(data) {
		return nil, fmt.Errorf("%w: bad batch header", ErrMalformed)
	}
	r := reader{b: data[len(batchMagic):], maxString: c.maxMessage()}
	n := r.count(len(binaryMagic)+1, c.maxEntries())
	if r.err == nil && n == 0 {
		r.fail("empty batch")
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, r.err)
	}
	// One array holds the batch's messages, another their actions.
	all, msgs := make([]Message, n), make([]*Message, n)
	var a batchArena
	for i := range n {
		b := r.take(c.maxMessage(), "message")
		if r.err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, r.err)
		}
		if err := c.decodeInto(&all[i], b, &a); err != nil {
			return nil, err
		}
		msgs[i] = &all[i]
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: trailing bytes after the batch", ErrMalformed)
	}
	return msgs, nil
}
