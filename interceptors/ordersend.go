package interceptors

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"github.com/gotribes/tribes/channel"
)

func (o *Order) outCounter(m channel.Member) *atomic.Uint32 {
	o.outMu.Lock()
	defer o.outMu.Unlock()
	c := o.out[m.Key()]
	if c == nil {
		c = new(atomic.Uint32)
		o.out[m.Key()] = c
	}
	return c
}

// SendMessage sends msg to each destination with that destination's next number. A
// multicast (OptMulticast) goes down unchanged, without a counter.
func (o *Order) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if !o.OKToProcess(msg.Options) {
		return o.Next().SendMessage(ctx, to, msg)
	}
	if len(to) == 0 || msg.Options&channel.OptMulticast != 0 {
		// A multicast: there is no per-destination counter to keep, and the receiver,
		// seeing OptMulticast, expects none.
		return o.Next().SendMessage(ctx, to, msg)
	}
	// Take every number first, so that concurrent senders get them in one order per
	// destination.
	nrs := make([]uint32, len(to))
	for i, m := range to {
		nrs[i] = o.outCounter(m).Add(1)
	}
	o.sent.Add(uint64(len(to)))
	var done *completion
	if len(to) > 1 {
		done = newCompletion(msg)
	}
	return done.sent(sendEach(ctx, o.Next(), to, msg.ID, done, func(i int) *channel.Message {
		c := *msg
		c.Data = AppendOrderTrailer(append(make([]byte, 0, len(msg.Data)+OrderTrailerLen), msg.Data...), nrs[i])
		if done != nil {
			c.OnComplete = done.part(to[i : i+1])
		}
		return &c
	}))
}

// AppendOrderTrailer appends Order's trailer for message number nr.
func AppendOrderTrailer(dst []byte, nr uint32) []byte { return binary.BigEndian.AppendUint32(dst, nr) }

// ParseOrderTrailer splits a received payload into the message and its number.
func ParseOrderTrailer(b []byte) (data []byte, nr uint32, err error) {
	if len(b) < OrderTrailerLen {
		return nil, 0, fmt.Errorf("%w: %d bytes, order trailer needs %d", ErrShortMessage, len(b), OrderTrailerLen)
	}
	n := len(b) - OrderTrailerLen
	return b[:n], binary.BigEndian.Uint32(b[n:]), nil
}
