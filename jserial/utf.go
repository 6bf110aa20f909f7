package jserial

import (
	"encoding/binary"
	"unicode/utf8"
	"unsafe"
)

// Java strings travel in "modified UTF-8": U+0000 as C0 80, characters outside the
// BMP as two 3-byte surrogates. Go strings hold the same text in UTF-8; an unpaired
// surrogate (legal in a Java string) is kept in its 3-byte form (WTF-8) so that it
// survives a round trip.

// plainASCII reports whether b is ASCII without NUL: then modified UTF-8 and UTF-8
// are the same bytes. It checks 8 bytes at a time.
func plainASCII(b []byte) bool {
	for len(b) >= 8 {
		if !plain8(binary.LittleEndian.Uint64(b)) {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c == 0 || c >= 0x80 {
			return false
		}
	}
	return true
}

// plain8 reports whether none of the 8 bytes in x is 0 or >= 0x80.
func plain8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	return (x|(x-lo))&hi == 0
}

// decodeMUTF8 converts modified UTF-8 to a Go string. Like Java's DataInputStream it
// accepts a raw 0 byte and over-long forms.
func decodeMUTF8(b []byte) (string, error) {
	if plainASCII(b) {
		return string(b), nil
	}
	out := make([]byte, 0, len(b)+len(b)/2)
	var high rune = -1 // pending high surrogate
	for i := 0; i < len(b); {
		c := b[i]
		var u rune
		switch c >> 4 {
		case 0, 1, 2, 3, 4, 5, 6, 7:
			u = rune(c)
			i++
		case 12, 13:
			if i+1 >= len(b) || b[i+1]&0xC0 != 0x80 {
				return "", ErrMalformed
			}
			u = rune(c&0x1F)<<6 | rune(b[i+1]&0x3F)
			i += 2
		case 14:
			if i+2 >= len(b) || b[i+1]&0xC0 != 0x80 || b[i+2]&0xC0 != 0x80 {
				return "", ErrMalformed
			}
			u = rune(c&0x0F)<<12 | rune(b[i+1]&0x3F)<<6 | rune(b[i+2]&0x3F)
			i += 3
		default:
			return "", ErrMalformed
		}
		if high >= 0 {
			if u >= 0xDC00 && u <= 0xDFFF {
				out = utf8.AppendRune(out, 0x10000+(high-0xD800)<<10+(u-0xDC00))
				high = -1
				continue
			}
			out = appendSurrogate(out, high)
			high = -1
		}
		switch {
		case u >= 0xD800 && u <= 0xDBFF:
			high = u
		case u >= 0xDC00 && u <= 0xDFFF:
			out = appendSurrogate(out, u)
		default:
			out = utf8.AppendRune(out, u)
		}
	}
	if high >= 0 {
		out = appendSurrogate(out, high)
	}
	return string(out), nil
}

func appendSurrogate(out []byte, u rune) []byte {
	return append(out, 0xE0|byte(u>>12), 0x80|byte(u>>6)&0x3F, 0x80|byte(u)&0x3F)
}

// wtf8Surrogate reports whether s[i:] starts with a 3-byte encoded surrogate.
func wtf8Surrogate(s string, i int) bool {
	return s[i] == 0xED && i+2 < len(s) && s[i+1] >= 0xA0 && s[i+1] <= 0xBF && s[i+2]&0xC0 == 0x80
}

// mutf8Len returns the length of s in modified UTF-8 and whether it is plain ASCII
// without NUL (then the bytes are s itself).
func mutf8Len(s string) (n int, plain bool) {
	if plainASCII(unsafe.Slice(unsafe.StringData(s), len(s))) { // read only
		return len(s), true
	}
	i := 0
	for i < len(s) {
		c := s[i]
		if c != 0 && c < 0x80 {
			n++
			i++
			continue
		}
		plain = false
		if c == 0 {
			n += 2
			i++
			continue
		}
		if wtf8Surrogate(s, i) {
			n += 3
			i += 3
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r < 0x800:
			n += 2
		case r < 0x10000:
			n += 3
		default:
			n += 6
		}
	}
	return n, plain
}

// appendMUTF8 appends s in modified UTF-8; invalid UTF-8 bytes become U+FFFD.
func appendMUTF8(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != 0 && c < 0x80 {
			dst = append(dst, c)
			i++
			continue
		}
		if c == 0 {
			dst = append(dst, 0xC0, 0x80)
			i++
			continue
		}
		if wtf8Surrogate(s, i) {
			dst = append(dst, s[i:i+3]...)
			i += 3
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r < 0x800:
			dst = append(dst, 0xC0|byte(r>>6), 0x80|byte(r)&0x3F)
		case r < 0x10000:
			dst = appendSurrogate(dst, r)
		default:
			r -= 0x10000
			dst = appendSurrogate(dst, 0xD800+(r>>10))
			dst = appendSurrogate(dst, 0xDC00+(r&0x3FF))
		}
	}
	return dst
}
