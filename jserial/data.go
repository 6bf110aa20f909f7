package jserial

import (
	"fmt"
	"io"
	"math"
)

// DataWriter builds the custom data of a writeObject or writeExternal method (an
// Object's Slot annotation, Slot.SetAnnotation, or External) the way ObjectOutputStream does in block-data
// mode: primitives are collected into BlockData of at most 1024 bytes, and each
// WriteObject closes the current block. The zero value is ready to use.
type DataWriter struct {
	out []any
	buf []byte
}

// Write appends p (OutputStream.write); it never fails.
func (w *DataWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(w.buf) == maxBlockSize {
			w.flush()
		}
		if w.buf == nil {
			w.buf = make([]byte, 0, maxBlockSize)
		}
		m := min(len(p), maxBlockSize-len(w.buf))
		w.buf = append(w.buf, p[:m]...)
		p = p[m:]
	}
	return n, nil
}

func (w *DataWriter) bytes(p ...byte) { _, _ = w.Write(p) }

// WriteBool writes a boolean (writeBoolean).
func (w *DataWriter) WriteBool(v bool) { w.bytes(boolByte(v)) }

// WriteInt8 writes a byte (writeByte).
func (w *DataWriter) WriteInt8(v int8) { w.bytes(byte(v)) }

// WriteInt16 writes a short (writeShort).
func (w *DataWriter) WriteInt16(v int16) { w.bytes(byte(v>>8), byte(v)) }

// WriteChar writes a char (writeChar).
func (w *DataWriter) WriteChar(v Char) { w.bytes(byte(v>>8), byte(v)) }

// WriteInt32 writes an int (writeInt).
func (w *DataWriter) WriteInt32(v int32) {
	w.bytes(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// WriteInt64 writes a long (writeLong).
func (w *DataWriter) WriteInt64(v int64) {
	w.WriteInt32(int32(v >> 32))
	w.WriteInt32(int32(v))
}

// WriteFloat32 writes a float (writeFloat).
func (w *DataWriter) WriteFloat32(v float32) { w.WriteInt32(int32(math.Float32bits(v))) }

// WriteFloat64 writes a double (writeDouble).
func (w *DataWriter) WriteFloat64(v float64) { w.WriteInt64(int64(math.Float64bits(v))) }

// WriteUTF writes a u2 length and s in modified UTF-8 (writeUTF); s must encode to at
// most 65535 bytes.
func (w *DataWriter) WriteUTF(s string) error {
	n, _ := mutf8Len(s)
	if n > 0xFFFF {
		return typeErr("writeUTF of %d bytes", n)
	}
	w.bytes(byte(n>>8), byte(n))
	_, _ = w.Write(appendMUTF8(nil, s))
	return nil
}

// WriteObject appends a value (writeObject); it is checked when the data is encoded.
func (w *DataWriter) WriteObject(v any) {
	w.flush()
	w.out = append(w.out, v)
}

func (w *DataWriter) flush() {
	if len(w.buf) > 0 {
		w.out = append(w.out, BlockData(w.buf))
		w.buf = nil
	}
}

// Contents returns what was written: BlockData and values, for Slot.SetAnnotation or
// Object.External. The writer starts afresh afterwards.
func (w *DataWriter) Contents() []any {
	w.flush()
	out := w.out
	w.out = nil
	return out
}

// DataReader reads custom data (Slot.Annotation's, Object.External, or the elements
// UnmarshalAll returns) the way ObjectInputStream does: primitives may span
// consecutive BlockData; ReadObject returns the next value and fails while block
// data is left unread.
type DataReader struct {
	items []any
	cur   []byte // unread part of the current BlockData
}

// NewDataReader returns a reader over contents.
func NewDataReader(contents []any) *DataReader { return &DataReader{items: contents} }

func (r *DataReader) fill() bool {
	for len(r.cur) == 0 && len(r.items) > 0 {
		b, ok := r.items[0].(BlockData)
		if !ok {
			return false
		}
		r.cur = b
		r.items = r.items[1:]
	}
	return len(r.cur) > 0
}

// Read reads up to len(p) bytes of block data (InputStream.read); at the end of the
// block data (an object or the end of the contents next) it returns io.EOF, where
// ObjectInputStream's read returns -1.
func (r *DataReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !r.fill() {
		return 0, io.EOF
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// ReadFull reads exactly len(p) bytes (readFully).
func (r *DataReader) ReadFull(p []byte) error {
	for done := 0; done < len(p); {
		if !r.fill() {
			return fmt.Errorf("%w: %d bytes of block data wanted, %d there", ErrTruncated, len(p), done)
		}
		m := copy(p[done:], r.cur)
		done += m
		r.cur = r.cur[m:]
	}
	return nil
}

// ReadBytes reads n bytes of block data into a new slice. When fewer are there (before
// an object or the end of the contents) it fails without allocating for them, so that a
// length read off the wire costs memory only once its bytes are there.
func (r *DataReader) ReadBytes(n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: negative length %d", ErrMalformed, n)
	}
	have := len(r.cur)
	for _, it := range r.items {
		b, ok := it.(BlockData)
		if !ok || have >= n {
			break
		}
		have += len(b)
	}
	if have < n {
		return nil, fmt.Errorf("%w: %d bytes of block data wanted, %d there", ErrTruncated, n, have)
	}
	b := make([]byte, n)
	return b, r.ReadFull(b)
}

func (r *DataReader) n(k int) ([]byte, error) {
	var b [8]byte
	if err := r.ReadFull(b[:k]); err != nil {
		return nil, err
	}
	return b[:k], nil
}

// ReadBool reads a boolean.
func (r *DataReader) ReadBool() (bool, error) {
	b, err := r.n(1)
	if err != nil {
		return false, err
	}
	return b[0] != 0, nil
}

// ReadInt8 reads a byte.
func (r *DataReader) ReadInt8() (int8, error) {
	b, err := r.n(1)
	if err != nil {
		return 0, err
	}
	return int8(b[0]), nil
}

// ReadInt16 reads a short.
func (r *DataReader) ReadInt16() (int16, error) {
	b, err := r.n(2)
	if err != nil {
		return 0, err
	}
	return int16(be16(b)), nil
}

// ReadChar reads a char.
func (r *DataReader) ReadChar() (Char, error) {
	v, err := r.ReadInt16()
	return Char(v), err
}

// ReadInt32 reads an int.
func (r *DataReader) ReadInt32() (int32, error) {
	b, err := r.n(4)
	if err != nil {
		return 0, err
	}
	return int32(be32(b)), nil
}

// ReadInt64 reads a long.
func (r *DataReader) ReadInt64() (int64, error) {
	b, err := r.n(8)
	if err != nil {
		return 0, err
	}
	return int64(be64(b)), nil
}

// ReadFloat32 reads a float.
func (r *DataReader) ReadFloat32() (float32, error) {
	v, err := r.ReadInt32()
	return math.Float32frombits(uint32(v)), err
}

// ReadFloat64 reads a double.
func (r *DataReader) ReadFloat64() (float64, error) {
	v, err := r.ReadInt64()
	return math.Float64frombits(uint64(v)), err
}

// ReadUTF reads a u2-length modified UTF-8 string (readUTF).
func (r *DataReader) ReadUTF() (string, error) {
	n, err := r.ReadInt16()
	if err != nil {
		return "", err
	}
	b, err := r.ReadBytes(int(uint16(n)))
	if err != nil {
		return "", err
	}
	return decodeMUTF8(b)
}

// ReadObject returns the next value (readObject).
func (r *DataReader) ReadObject() (any, error) {
	if len(r.cur) > 0 {
		return nil, fmt.Errorf("%w: object read with %d bytes of block data unread", ErrMalformed, len(r.cur))
	}
	for len(r.items) > 0 {
		v := r.items[0]
		r.items = r.items[1:]
		if b, ok := v.(BlockData); ok {
			if len(b) == 0 {
				continue
			}
			r.cur = b
			return nil, fmt.Errorf("%w: object read where block data is", ErrMalformed)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%w: no object left in the custom data", ErrTruncated)
}

// Done reports whether everything was read.
func (r *DataReader) Done() bool {
	return !r.fill() && len(r.items) == 0
}
