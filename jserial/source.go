package jserial

import (
	"errors"
	"io"
)

// source hands out the stream's bytes: from one slice (Unmarshal) or, buffered, from
// an io.Reader. It never allocates more than twice what it has actually received.
type source struct {
	r       io.Reader // nil: buf holds the whole input
	buf     []byte
	pos     int
	off     int64 // stream offset of buf[0]
	max     int64 // MaxBytes
	limited bool  // buf was cut at max: running off its end is ErrLimit, not ErrTruncated
}

func (s *source) offset() int64 { return s.off + int64(s.pos) }

// received is the number of bytes of the stream received so far: read from the
// io.Reader, whether or not decoded yet.
func (s *source) received() int64 { return s.off + int64(len(s.buf)) }

// remaining is the number of bytes known to be available, or -1 if more may arrive.
func (s *source) knownRemaining() int {
	if s.r != nil {
		return -1
	}
	return len(s.buf) - s.pos
}

// need makes n bytes available at s.pos.
func (s *source) need(n int) error {
	if n < 0 {
		return ErrMalformed
	}
	if len(s.buf)-s.pos >= n {
		return nil
	}
	if s.offset()+int64(n) > s.max || (s.r == nil && s.limited) {
		return ErrLimit
	}
	if s.r == nil {
		return ErrTruncated
	}
	if s.pos > 0 {
		m := copy(s.buf, s.buf[s.pos:])
		s.off += int64(s.pos)
		s.buf = s.buf[:m]
		s.pos = 0
	}
	for len(s.buf) < n {
		if len(s.buf) == cap(s.buf) {
			nb := make([]byte, len(s.buf), max(4096, min(2*cap(s.buf), n)))
			copy(nb, s.buf)
			s.buf = nb
		}
		// Never read past MaxBytes, so that buffered data cannot exceed it either.
		end := int64(cap(s.buf))
		if room := s.max - s.off; end > room {
			end = room
		}
		m, err := s.r.Read(s.buf[len(s.buf):end])
		s.buf = s.buf[:len(s.buf)+m]
		if len(s.buf) >= n {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return ErrTruncated
			}
			return err
		}
	}
	return nil
}

// atEOF reports whether the stream ends at s.pos. At MaxBytes it is ErrLimit unless the
// stream ends there: input given whole and cut at MaxBytes goes on beyond it, and a
// reader is asked for one more byte (read and dropped: the Decoder stops at the error).
func (s *source) atEOF() (bool, error) {
	if s.pos < len(s.buf) {
		return false, nil
	}
	if s.r == nil {
		if s.limited {
			return false, ErrLimit
		}
		return true, nil
	}
	if s.offset() >= s.max {
		var probe [1]byte
		switch _, err := io.ReadFull(s.r, probe[:]); err {
		case nil:
			return false, ErrLimit
		case io.EOF:
			return true, nil
		default:
			return false, err
		}
	}
	switch err := s.need(1); err {
	case nil:
		return false, nil
	case ErrTruncated:
		return true, nil
	default:
		return false, err
	}
}

// take returns the next n bytes; the slice is valid until the next call.
func (s *source) take(n int) ([]byte, error) {
	if err := s.need(n); err != nil {
		return nil, err
	}
	b := s.buf[s.pos : s.pos+n : s.pos+n]
	s.pos += n
	return b, nil
}

func (s *source) peek() (byte, error) {
	if s.pos < len(s.buf) {
		return s.buf[s.pos], nil
	}
	if err := s.need(1); err != nil {
		return 0, err
	}
	return s.buf[s.pos], nil
}

func (s *source) u8() (byte, error) {
	if s.pos < len(s.buf) {
		b := s.buf[s.pos]
		s.pos++
		return b, nil
	}
	if err := s.need(1); err != nil {
		return 0, err
	}
	b := s.buf[s.pos]
	s.pos++
	return b, nil
}

func (s *source) u16() (uint16, error) {
	b, err := s.take(2)
	if err != nil {
		return 0, err
	}
	return uint16(b[0])<<8 | uint16(b[1]), nil
}

func (s *source) u32() (uint32, error) {
	b, err := s.take(4)
	if err != nil {
		return 0, err
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
}

func (s *source) u64() (uint64, error) {
	b, err := s.take(8)
	if err != nil {
		return 0, err
	}
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]), nil
}
