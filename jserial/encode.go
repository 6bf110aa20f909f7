package jserial

import (
	"fmt"
	"io"
	"math"
	"math/big"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"
)

// EncoderConfig configures an Encoder. Zero fields take the defaults.
type EncoderConfig struct {
	// MaxDepth bounds the nesting of the values written; a Go value that contains
	// itself through slices (which the encoder cannot tell from a deep tree) fails with
	// ErrLimit instead of recursing forever. Default 1000 (DefaultMaxDepth).
	MaxDepth int
}

// Encoder writes values as one serialization stream: the header before the first
// value, then each value, sharing the handle table as ObjectOutputStream does. As
// there, an object written again is only a back-reference, and values written must
// not be modified until the next Reset: the table identifies them by address, and the
// Encoder keeps the values it was given alive, not parts cut out of them later.
type Encoder struct {
	w       io.Writer
	buf     []byte
	started bool
	e       encState
	keep    []any // values written since the last reset: their addresses are in the handle table
	err     error // the io.Writer's error, returned by every later Encode
}

// encState is the state of the encoding proper.
type encState struct {
	buf      []byte
	maxDepth int
	depth    int
	next     int32            // handles assigned so far
	handles  handleTable      // identity -> handle
	types    map[string]int32 // field signatures by value (Java interns them)
	chains   map[*ClassDesc][]*ClassDesc
	descs    map[string][]writtenDesc // class descriptors written whole, by name (equalDesc)
	open     []*ClassDesc             // the class descriptors being written, outermost first
	sizeHint int                      // Marshal: capacity of the next output (the size of the last one)
}

// NewEncoder returns an Encoder writing to w. Each Encode call writes its bytes to w
// with one Write. A nil w or a negative MaxDepth is an error wrapping ErrInvalidConfig.
func NewEncoder(w io.Writer, cfg EncoderConfig) (*Encoder, error) {
	if w == nil {
		return nil, fmt.Errorf("%w: NewEncoder with a nil io.Writer", ErrInvalidConfig)
	}
	if cfg.MaxDepth < 0 {
		return nil, fmt.Errorf("%w: negative EncoderConfig.MaxDepth %d", ErrInvalidConfig, cfg.MaxDepth)
	}
	e := &Encoder{w: w}
	e.e.init(cfg)
	return e, nil
}

func (s *encState) init(cfg EncoderConfig) {
	s.maxDepth = cfg.MaxDepth
	if s.maxDepth == 0 {
		s.maxDepth = DefaultMaxDepth
	}
	s.types = map[string]int32{}
}

func (s *encState) reset() {
	s.next = 0
	s.handles.reset()
	clear(s.types)
	clear(s.descs)
}

// forget drops the handles assigned from next on: those of a value that failed, whose
// bytes are not written.
func (s *encState) forget(next int32) {
	if s.next == next {
		return
	}
	s.handles.dropFrom(next)
	for x, h := range s.types {
		if h >= next {
			delete(s.types, x)
		}
	}
	for name, ws := range s.descs {
		ws = slices.DeleteFunc(ws, func(w writtenDesc) bool { return w.h >= next })
		if len(ws) == 0 {
			delete(s.descs, name)
		} else {
			s.descs[name] = ws
		}
	}
	s.next = next
}

// Encode writes v: a value (see the package documentation for the Go types), a
// BlockData, or Reset. A value it cannot write (ErrType, ErrLimit, ErrCycle) writes
// nothing and leaves the Encoder as it was: later values refer only to what was written
// (TestEncoderAfterError). An error of the io.Writer is returned again by every later
// call: the stream may hold part of the value.
func (e *Encoder) Encode(v any) error {
	if e.err != nil {
		return e.err
	}
	e.e.buf = e.buf[:0]
	if !e.started {
		e.e.buf = append(e.e.buf, 0xAC, 0xED, 0, streamVersion)
	}
	next := e.e.next
	err := e.e.top(v)
	e.buf = e.e.buf
	if err != nil {
		e.e.forget(next)
		return err
	}
	if _, ok := v.(Reset); ok {
		clear(e.keep)
		e.keep = e.keep[:0]
	} else {
		e.keep = append(e.keep, v)
	}
	if _, err := e.w.Write(e.buf); err != nil {
		e.err = err
		return err
	}
	e.started = true
	return nil
}

// Reset writes TC_RESET: later values do not refer to earlier ones.
func (e *Encoder) Reset() error { return e.Encode(Reset{}) }

var encPool = sync.Pool{New: func() any {
	s := &encState{sizeHint: 256}
	s.init(EncoderConfig{})
	return s
}}

// Marshal returns a stream holding v (header and one element), as
// ObjectOutputStream.writeObject(v) on a new stream writes it.
func Marshal(v any) ([]byte, error) {
	return MarshalAppend(nil, v)
}

// MarshalAppend appends the stream Marshal returns to dst.
func MarshalAppend(dst []byte, v any) ([]byte, error) {
	s := encPool.Get().(*encState)
	defer func() {
		s.buf = nil
		s.reset()
		encPool.Put(s)
	}()
	if dst == nil {
		dst = make([]byte, 0, s.sizeHint)
	}
	s.buf = append(dst, 0xAC, 0xED, 0, streamVersion)
	if err := s.top(v); err != nil {
		return nil, err
	}
	s.sizeHint = min(max(len(s.buf), 64), 64<<10)
	runtime.KeepAlive(v)
	return s.buf, nil
}

func (s *encState) top(v any) error {
	s.depth = 0
	clear(s.chains)
	clear(s.open)
	s.open = s.open[:0]
	switch x := v.(type) {
	case Reset:
		s.buf = append(s.buf, tcReset)
		s.reset()
		return nil
	case BlockData:
		s.blockData(x)
		return nil
	}
	return closePath(s.value(v))
}

func (s *encState) blockData(b BlockData) {
	if len(b) <= 0xFF {
		s.buf = append(s.buf, tcBlockData, byte(len(b)))
	} else {
		s.buf = append(s.buf, tcBlockDataLong)
		s.u32(uint32(len(b)))
	}
	s.write(b)
}

// write appends b (a string or byte slice); in place while the buffer has room, without
// storing the slice pointer (no GC write barrier).
func (s *encState) write(b []byte) {
	if n := len(s.buf); cap(s.buf)-n >= len(b) {
		s.buf = s.buf[:n+len(b)]
		copy(s.buf[n:], b)
		return
	}
	s.buf = append(s.buf, b...)
}

func (s *encState) writeString(x string) {
	if n := len(s.buf); cap(s.buf)-n >= len(x) {
		s.buf = s.buf[:n+len(x)]
		copy(s.buf[n:], x)
		return
	}
	s.buf = append(s.buf, x...)
}

// u16, u32 and u64 append big-endian integers. They append to s.buf in place (no
// pointer store, so no GC write barrier, unless the buffer grows).
func (s *encState) u16(v uint16) { s.buf = append(s.buf, byte(v>>8), byte(v)) }

func (s *encState) u32(v uint32) {
	s.buf = append(s.buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (s *encState) u64(v uint64) {
	s.buf = append(s.buf, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (s *encState) value(v any) error {
	s.depth++
	if s.depth > s.maxDepth {
		s.depth--
		return fmt.Errorf("%w: nesting deeper than MaxDepth %d", ErrLimit, s.maxDepth)
	}
	err := s.value1(v)
	s.depth--
	return err
}

func (s *encState) value1(v any) error {
	switch x := v.(type) {
	case nil:
		s.buf = append(s.buf, tcNull)
	case string:
		s.str(x)
	case bool:
		if !s.boxed(booleanDesc, int64(boolByte(x)), true) {
			s.buf = append(s.buf, boolByte(x))
		}
	case int8:
		if !s.boxed(byteDesc, int64(x), true) {
			s.buf = append(s.buf, byte(x))
		}
	case int16:
		if !s.boxed(shortDesc, int64(x), x >= -128 && x <= 127) {
			s.u16(uint16(x))
		}
	case Char:
		if !s.boxed(characterDesc, int64(x), x <= 127) {
			s.u16(uint16(x))
		}
	case int32:
		if !s.boxed(integerDesc, int64(x), x >= -128 && x <= 127) {
			s.u32(uint32(x))
		}
	case int64:
		if !s.boxed(longDesc, x, x >= -128 && x <= 127) {
			s.u64(uint64(x))
		}
	case float32:
		s.object(floatDesc, refKey{})
		s.u32(math.Float32bits(x))
	case float64:
		s.object(doubleDesc, refKey{})
		s.u64(math.Float64bits(x))
	case UUID:
		s.object(uuidDesc, refKey{})
		s.write(x[8:])
		s.write(x[:8])
	case time.Time:
		// UnixMilli wraps beyond a long of milliseconds (about 292 million years from
		// 1970): such an instant does not come back.
		ms := x.UnixMilli()
		if !time.UnixMilli(ms).Equal(x.Truncate(time.Millisecond)) {
			return typeErr("time %v beyond a java.util.Date", x)
		}
		s.object(dateDesc, refKey{})
		s.buf = append(s.buf, tcBlockData, 8)
		s.u64(uint64(ms))
		s.buf = append(s.buf, tcEndBlockData)
	case []byte:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindBytes); !s.ref(k) {
			s.arrayHead(bytesDesc, k, len(x))
			s.write(x)
		}
	case []bool:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindBools); !s.ref(k) {
			s.arrayHead(boolsDesc, k, len(x))
			for _, b := range x {
				s.buf = append(s.buf, boolByte(b))
			}
		}
	case []int16:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindShorts); !s.ref(k) {
			s.arrayHead(shortsDesc, k, len(x))
			for _, v := range x {
				s.u16(uint16(v))
			}
		}
	case []Char:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindChars); !s.ref(k) {
			s.arrayHead(charsDesc, k, len(x))
			for _, v := range x {
				s.u16(uint16(v))
			}
		}
	case []int32:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindInts); !s.ref(k) {
			s.arrayHead(intsDesc, k, len(x))
			for _, v := range x {
				s.u32(uint32(v))
			}
		}
	case []int64:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindLongs); !s.ref(k) {
			s.arrayHead(longsDesc, k, len(x))
			for _, v := range x {
				s.u64(uint64(v))
			}
		}
	case []float32:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindFloats); !s.ref(k) {
			s.arrayHead(floatsDesc, k, len(x))
			for _, v := range x {
				s.u32(math.Float32bits(v))
			}
		}
	case []float64:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindDoubles); !s.ref(k) {
			s.arrayHead(doublesDesc, k, len(x))
			for _, v := range x {
				s.u64(math.Float64bits(v))
			}
		}
	case []any:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		return s.list(arrayListDesc, sliceKey(x, kindArrayList), x)
	case LinkedList:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		return s.list(linkedListDesc, sliceKey(x, kindLinkedList), x)
	case *Map:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		return s.mapValue(x)
	case *Set:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		return s.set(x)
	case *big.Int:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		return s.bigInteger(x)
	case *BigDecimal:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		return s.bigDecimal(x)
	case *Object:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		return s.genericObject(x)
	case *Array:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		return s.genericArray(x)
	case *Enum:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		return s.enum(x)
	case *Class:
		if x == nil {
			s.buf = append(s.buf, tcNull)
			return nil
		}
		k := ptrKey(x)
		if s.ref(k) {
			return nil
		}
		if x.Desc == nil { // Java's readClass fails on TC_CLASS TC_NULL
			return typeErr("*Class without a class descriptor")
		}
		s.buf = append(s.buf, tcClass)
		if err := s.classDesc(x.Desc); err != nil {
			return err
		}
		s.assign(k)
	case *ClassDesc:
		return s.classDesc(x)
	case BlockData, Reset:
		return typeErr("%T inside an object", v)
	default:
		return goTypeErr(v)
	}
	return nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// boxed writes a back-reference, or the head of a boxed primitive whose value the
// caller writes then; shared says whether Java's valueOf returns a cached instance for
// this value (then equal values are one object, as in Java). It reports whether it
// wrote a reference.
func (s *encState) boxed(cd *ClassDesc, n int64, shared bool) bool {
	k := refKey{}
	if shared {
		k = refKey{n: n, k: cd.kind}
		if s.ref(k) {
			return true
		}
	}
	s.object(cd, k)
	return false
}

// object writes TC_OBJECT, the descriptor of a mapped class, and assigns the handle.
func (s *encState) object(cd *ClassDesc, k refKey) {
	s.buf = append(s.buf, tcObject)
	_ = s.classDesc(cd) // the package's descriptors are valid
	s.assign(k)
}

func (s *encState) arrayHead(cd *ClassDesc, k refKey, n int) {
	s.buf = append(s.buf, tcArray)
	_ = s.classDesc(cd)
	s.assign(k)
	s.u32(uint32(n))
}

// str writes a string; the same Go string memory written twice is a back-reference.
func (s *encState) str(x string) {
	k := refKey{p: uintptr(unsafe.Pointer(unsafe.StringData(x))), n: int64(len(x)), k: kindString}
	// One probe finds an earlier write or takes the next handle (nothing else takes
	// one before the string's own).
	if h, found := s.handles.getOrPut(k, s.next); found {
		s.buf = append(s.buf, tcReference)
		s.u32(uint32(baseWireHandle + h))
		return
	}
	s.stringBody(x)
	s.next++
}

func (s *encState) newString(x string, k refKey) {
	s.stringBody(x)
	s.assign(k)
}

// stringBody writes TC_STRING or TC_LONGSTRING and the text.
func (s *encState) stringBody(x string) {
	n, plain := mutf8Len(x)
	if n <= 0xFFFF {
		s.buf = append(s.buf, tcString)
		s.u16(uint16(n))
	} else {
		s.buf = append(s.buf, tcLongString)
		s.u64(uint64(n))
	}
	if plain {
		s.writeString(x)
	} else {
		s.buf = appendMUTF8(s.buf, x)
	}
}

// utf writes a u2-length modified UTF-8 string.
func (s *encState) utf(x string) error {
	n, plain := mutf8Len(x)
	if n > 0xFFFF {
		return typeErr("name of %d bytes", n)
	}
	s.u16(uint16(n))
	if plain {
		s.writeString(x)
	} else {
		s.buf = appendMUTF8(s.buf, x)
	}
	return nil
}
