package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Frame markers of Tribes' XByteBuffer "data package".
var (
	startData = []byte("FLT2002")
	endData   = []byte("TLF2003")
)

const (
	markerLen = 7
	// FrameHeaderLen is the number of bytes before a frame's body: START_DATA and the length.
	FrameHeaderLen = markerLen + 4
	// FrameOverhead is the number of bytes a frame adds around its body (Java: getDataPackageLength(0)).
	FrameOverhead = FrameHeaderLen + markerLen

	// DefaultMaxFrameSize is the largest body a decoder accepts unless told otherwise: 64 MiB.
	// Java has no limit besides int32; a Go receiver refuses larger frames instead of allocating
	// whatever a peer announces.
	DefaultMaxFrameSize = 64 << 20
)

// Errors returned by the frame decoder. Each one means the stream is corrupt and the
// connection that produced it should be closed.
var (
	ErrBadStartMarker = errors.New("tribes/wire: frame does not start with FLT2002")
	ErrBadEndMarker   = errors.New("tribes/wire: frame does not end with TLF2003")
	ErrNegativeLength = errors.New("tribes/wire: negative frame length")
	ErrFrameTooLarge  = errors.New("tribes/wire: frame larger than the configured maximum")
)

// FrameLen returns the size of a frame whose body has n bytes.
func FrameLen(n int) int { return n + FrameOverhead }

// AppendFrameHeader appends START_DATA and the body length to dst.
func AppendFrameHeader(dst []byte, bodyLen int) []byte {
	dst = append(dst, startData...)
	return binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
}

// AppendFrameTrailer appends END_DATA to dst.
func AppendFrameTrailer(dst []byte) []byte { return append(dst, endData...) }

// AppendFrame appends a complete frame carrying body to dst.
func AppendFrame(dst, body []byte) []byte {
	dst = AppendFrameHeader(dst, len(body))
	dst = append(dst, body...)
	return AppendFrameTrailer(dst)
}

// ParseFrame looks for one frame at the start of b.
//
// It returns the body (a sub-slice of b) and the number of bytes the frame occupies.
// When b holds only the beginning of a valid frame it returns n == 0 and a nil error: wait
// for more bytes. Any bytes that can never become a valid frame (a wrong or partial-wrong
// start marker, a negative length, a length above maxBody, a wrong end marker) give an error.
// maxBody <= 0 means DefaultMaxFrameSize.
func ParseFrame(b []byte, maxBody int) (body []byte, n int, err error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxFrameSize
	}
	if len(b) < markerLen {
		if !bytes.HasPrefix(startData, b) {
			return nil, 0, ErrBadStartMarker
		}
		return nil, 0, nil
	}
	if !bytes.Equal(b[:markerLen], startData) {
		return nil, 0, ErrBadStartMarker
	}
	if len(b) < FrameHeaderLen {
		return nil, 0, nil
	}
	l := int32(binary.BigEndian.Uint32(b[markerLen:]))
	if l < 0 {
		return nil, 0, ErrNegativeLength
	}
	if int64(l) > int64(maxBody) {
		return nil, 0, fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, l, maxBody)
	}
	total := FrameLen(int(l))
	if len(b) < total {
		return nil, 0, nil
	}
	if !bytes.Equal(b[total-markerLen:total], endData) {
		return nil, 0, ErrBadEndMarker
	}
	return b[FrameHeaderLen : total-markerLen], total, nil
}

// PeekFrameLen inspects the header at the start of b and reports the total frame length it
// announces, so that a reader can wait for that many bytes. It returns 0 and no error when b
// is too short to tell, and the same errors as ParseFrame for an invalid header.
func PeekFrameLen(b []byte, maxBody int) (int, error) {
	if len(b) < FrameHeaderLen {
		_, _, err := ParseFrame(b, maxBody)
		return 0, err
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxFrameSize
	}
	if !bytes.Equal(b[:markerLen], startData) {
		return 0, ErrBadStartMarker
	}
	l := int32(binary.BigEndian.Uint32(b[markerLen:]))
	if l < 0 {
		return 0, ErrNegativeLength
	}
	if int64(l) > int64(maxBody) {
		return 0, fmt.Errorf("%w: %d > %d bytes", ErrFrameTooLarge, l, maxBody)
	}
	return FrameLen(int(l)), nil
}

// FrameDecoder splits a byte stream into frame bodies. Feed it whatever arrives with Write,
// then call Next until it reports no more complete frames. It accepts several frames and
// partial frames per write. After an error the decoder is poisoned: the stream must be
// dropped.
//
// The zero value uses DefaultMaxFrameSize.
type FrameDecoder struct {
	// MaxFrameSize caps a frame's body; 0 means DefaultMaxFrameSize.
	MaxFrameSize int

	buf []byte
	off int
	err error
}

// Write appends p to the decoder's buffer. It never fails; errors surface from Next.
func (d *FrameDecoder) Write(p []byte) (int, error) {
	if d.off > 0 {
		// Drop consumed bytes; earlier bodies are documented as invalid from here on.
		m := copy(d.buf, d.buf[d.off:])
		d.buf, d.off = d.buf[:m], 0
	}
	d.buf = append(d.buf, p...)
	return len(p), nil
}

// Next returns the next complete frame body. ok is false when more bytes are needed.
// The body aliases the decoder's buffer and is valid until the next Write.
func (d *FrameDecoder) Next() (body []byte, ok bool, err error) {
	if d.err != nil {
		return nil, false, d.err
	}
	body, n, err := ParseFrame(d.buf[d.off:], d.MaxFrameSize)
	if err != nil {
		d.err = err
		return nil, false, err
	}
	if n == 0 {
		return nil, false, nil
	}
	d.off += n
	return body, true, nil
}

// Buffered reports how many bytes are waiting in the decoder.
func (d *FrameDecoder) Buffered() int { return len(d.buf) - d.off }
