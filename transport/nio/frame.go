package nio

import (
	"fmt"
	"net"
	"sync"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// inlineMax is the largest payload copied into the frame buffer; larger payloads are
// written from the caller's slice with writev, so a message is never copied.
const inlineMax = 16 << 10

// maxPooledBuf caps the buffers kept in framePool.
const maxPooledBuf = 64 << 10

var framePool = sync.Pool{New: func() any { return &outFrame{buf: make([]byte, 0, 1024)} }}

var trailer = wire.AppendFrameTrailer(nil)

// outFrame is one encoded message, written unchanged to every destination and retry.
type outFrame struct {
	buf     []byte // holds head (and payload and trailer when inline); kept by the pool
	head    []byte
	payload []byte // nil when inline
	size    int    // whole frame
	flat    []byte // contiguous copy for UDP, built on demand
}

// encodeFrame builds the frame of msg once. The payload is copied only when small.
func encodeFrame(msg *channel.Message, maxBody int) (*outFrame, error) {
	addr := msg.SourceBytes
	if addr == nil {
		if err := msg.Source.Validate(); err != nil {
			return nil, fmt.Errorf("nio: source member: %w", err)
		}
		addr = wire.AppendMember(nil, &msg.Source)
	}
	bodyLen := wire.ChannelDataLen(len(msg.ID), len(addr), len(msg.Data))
	if bodyLen > maxBody {
		return nil, fmt.Errorf("%w: a %d-byte frame body exceeds MaxFrameSize %d", channel.ErrMessageTooLarge, bodyLen, maxBody)
	}
	if len(msg.ID) > wire.MaxMessageIDLen {
		return nil, fmt.Errorf("%w: message id of %d bytes", channel.ErrMessageTooLarge, len(msg.ID))
	}
	f := framePool.Get().(*outFrame)
	f.size = wire.FrameLen(bodyLen)
	b := f.buf[:0]
	b = wire.AppendFrameHeader(b, bodyLen)
	b = wire.AppendChannelDataHead(b, uint32(msg.Options), msg.Timestamp, msg.ID, addr, len(msg.Data))
	if len(msg.Data) <= inlineMax {
		b = append(b, msg.Data...)
		b = wire.AppendFrameTrailer(b)
	} else {
		f.payload = msg.Data
	}
	f.head = b
	f.buf = b
	return f, nil
}

func (f *outFrame) release() {
	if cap(f.buf) > maxPooledBuf {
		return
	}
	*f = outFrame{buf: f.buf[:0]}
	framePool.Put(f)
}

// writeTo writes the whole frame to s: one write, or writev for a large payload (raw
// system calls on Linux: see rawSock). iov is scratch space owned by the caller (a
// net.Buffers that lives in a heap object already, so that writev allocates nothing).
func (f *outFrame) writeTo(s *rawSock, iov *net.Buffers) error {
	if f.payload == nil {
		_, err := s.Write(f.head)
		return err
	}
	*iov = append((*iov)[:0], f.head, f.payload, trailer)
	_, err := s.Writev(iov)
	clear((*iov)[:cap(*iov)])
	return err
}

// contiguous returns the frame as one slice (for a datagram). Call it before sharing the
// frame between goroutines.
func (f *outFrame) contiguous() []byte {
	if f.payload == nil {
		return f.head
	}
	if f.flat == nil {
		f.flat = make([]byte, 0, f.size)
		f.flat = append(append(append(f.flat, f.head...), f.payload...), trailer...)
	}
	return f.flat
}
