package jserial

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"runtime"
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
	sizeHint int // Marshal: capacity of the next output (the size of the last one)
}

// refKey identifies a Java object: a Go address (and length, for strings and slices)
// of a kind, or a small boxed value Java's valueOf caches. The address is a uintptr
// (no write barriers, no GC scanning of the table); the values written stay reachable
// while the table is used (Marshal's argument; Encoder.keep), and Go's heap does not
// move, so an address names one object.
type refKey struct {
	p uintptr
	n int64
	k kind
}

// NewEncoder returns an Encoder writing to w. Each Encode call writes its bytes to w
// with one Write.
func NewEncoder(w io.Writer, cfg EncoderConfig) (*Encoder, error) {
	if w == nil {
		return nil, errors.New("jserial: NewEncoder with a nil io.Writer")
	}
	if cfg.MaxDepth < 0 {
		return nil, errors.New("jserial: negative EncoderConfig.MaxDepth")
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
}

// Encode writes v: a value (see the package documentation for the Go types), a
// BlockData, or Reset.
func (e *Encoder) Encode(v any) error {
	e.e.buf = e.buf[:0]
	if !e.started {
		e.e.buf = append(e.e.buf, 0xAC, 0xED, 0, streamVersion)
	}
	err := e.e.top(v)
	e.buf = e.e.buf
	if err != nil {
		return err
	}
	if _, ok := v.(Reset); ok {
		clear(e.keep)
		e.keep = e.keep[:0]
	} else {
		e.keep = append(e.keep, v)
	}
	if _, err := e.w.Write(e.buf); err != nil {
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
	switch x := v.(type) {
	case Reset:
		s.buf = append(s.buf, tcReset)
		s.reset()
		return nil
	case BlockData:
		s.blockData(x)
		return nil
	}
	return s.value(v)
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

// ref writes TC_REFERENCE if k was written before and reports whether it did.
func (s *encState) ref(k refKey) bool {
	if h, ok := s.handles.get(k); ok {
		s.buf = append(s.buf, tcReference)
		s.u32(uint32(baseWireHandle + h))
		return true
	}
	return false
}

// assign gives the next handle to k (an object that cannot be referenced again: a nil p
// with kind 0).
func (s *encState) assign(k refKey) {
	if k.k != kindNone {
		s.handles.put(k, s.next)
	}
	s.next++
}

func ptrKey[T any](p *T) refKey { return refKey{p: uintptr(unsafe.Pointer(p)), k: kindPtr} }

func sliceKey[T any](a []T, k kind) refKey {
	return refKey{p: uintptr(unsafe.Pointer(unsafe.SliceData(a))), n: int64(len(a)), k: k}
}

// Kinds of refKey beyond the mapped classes.
const (
	kindString kind = 100 + iota
	kindPtr
)

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
		s.object(dateDesc, refKey{})
		s.buf = append(s.buf, tcBlockData, 8)
		s.u64(uint64(x.UnixMilli()))
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
		return typeErr("Go type %T", v)
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

// typeString writes a field signature: shared with an earlier signature of the same
// value (Java interns them) or with the very same string value written before.
func (s *encState) typeString(x string) {
	k := refKey{p: uintptr(unsafe.Pointer(unsafe.StringData(x))), n: int64(len(x)), k: kindString}
	if s.ref(k) {
		return
	}
	if h, ok := s.types[x]; ok {
		s.buf = append(s.buf, tcReference)
		s.u32(uint32(baseWireHandle + h))
		return
	}
	s.types[x] = s.next
	s.newString(x, k)
}

func (s *encState) classDesc(cd *ClassDesc) error {
	if cd == nil {
		s.buf = append(s.buf, tcNull)
		return nil
	}
	k := ptrKey(cd)
	if s.ref(k) {
		return nil
	}
	s.depth++
	if s.depth > s.maxDepth {
		s.depth--
		return fmt.Errorf("%w: class descriptors nested deeper than MaxDepth %d", ErrLimit, s.maxDepth)
	}
	err := s.newClassDesc(cd, k)
	s.depth--
	return err
}

func (s *encState) newClassDesc(cd *ClassDesc, k refKey) error {
	if cd.wire != nil { // a JDK descriptor without object fields: constant bytes
		s.write(cd.wire)
		s.assign(k)
		return s.classDesc(cd.Super)
	}
	if cd.Name == "" {
		return typeErr("class descriptor without a name")
	}
	if len(cd.Fields) > 0xFFFF {
		return typeErr("%s: %d fields", cd.Name, len(cd.Fields))
	}
	s.buf = append(s.buf, tcClassDesc)
	if err := s.utf(cd.Name); err != nil {
		return err
	}
	s.u64(uint64(cd.SUID))
	s.assign(k)
	s.buf = append(s.buf, cd.Flags)
	s.u16(uint16(len(cd.Fields)))
	for _, f := range cd.Fields {
		s.buf = append(s.buf, f.Type)
		if err := s.utf(f.Name); err != nil {
			return err
		}
		switch f.Type {
		case 'L', '[':
			if f.Signature == "" {
				return typeErr("%s.%s: object field without signature", cd.Name, f.Name)
			}
			s.typeString(f.Signature)
		case 'B', 'C', 'D', 'F', 'I', 'J', 'S', 'Z':
		default:
			return typeErr("%s.%s: field type code %q", cd.Name, f.Name, f.Type)
		}
	}
	if err := s.contents(cd.Annotation); err != nil {
		return err
	}
	return s.classDesc(cd.Super)
}

// contents writes an annotation (BlockData and values) and TC_ENDBLOCKDATA.
func (s *encState) contents(a []any) error {
	for _, v := range a {
		if b, ok := v.(BlockData); ok {
			s.blockData(b)
			continue
		}
		if err := s.value(v); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) list(cd *ClassDesc, k refKey, elems []any) error {
	if s.ref(k) {
		return nil
	}
	s.object(cd, k)
	if cd.kind == kindArrayList {
		s.u32(uint32(len(elems)))
	}
	s.buf = append(s.buf, tcBlockData, 4)
	s.u32(uint32(len(elems)))
	for _, v := range elems {
		if err := s.value(v); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) entries(es []Entry) error {
	s.u32(uint32(len(es)))
	for _, e := range es {
		if err := s.value(e.Key); err != nil {
			return err
		}
		if err := s.value(e.Value); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) mapValue(m *Map) error {
	k := ptrKey(m)
	if s.ref(k) {
		return nil
	}
	switch m.Class {
	case TreeMap:
		s.object(treeMapDesc, k)
		if err := s.value(m.Comparator); err != nil {
			return err
		}
		s.buf = append(s.buf, tcBlockData, 4)
		return s.entries(m.Entries)
	case HashMap, LinkedHashMap:
		cd := hashMapDesc
		if m.Class == LinkedHashMap {
			cd = linkedHashMapDesc
		}
		s.object(cd, k)
		lf, th, c := m.LoadFactor, m.Threshold, m.Capacity
		if lf == 0 {
			lf = 0.75
		}
		if c == 0 {
			c = hashCapacity(len(m.Entries))
			if th == 0 && len(m.Entries) > 0 {
				th = int32(float32(c) * lf)
			}
		}
		s.u32(math.Float32bits(lf))
		s.u32(uint32(th))
		s.buf = append(s.buf, tcBlockData, 8)
		s.u32(uint32(c))
		if err := s.entries(m.Entries); err != nil {
			return err
		}
		if m.Class == LinkedHashMap {
			s.buf = append(s.buf, boolByte(m.AccessOrder))
		}
		return nil
	}
	return typeErr("Map class %d", m.Class)
}

func (s *encState) set(x *Set) error {
	k := ptrKey(x)
	if s.ref(k) {
		return nil
	}
	switch x.Class {
	case HashSet:
		s.object(hashSetDesc, k)
	case LinkedHashSet:
		s.object(linkedHashSetDesc, k)
	default:
		return typeErr("Set class %d", x.Class)
	}
	c, lf := x.Capacity, x.LoadFactor
	if c == 0 {
		c = hashCapacity(len(x.Elems))
	}
	if lf == 0 {
		lf = 0.75
	}
	s.buf = append(s.buf, tcBlockData, 12)
	s.u32(uint32(c))
	s.u32(math.Float32bits(lf))
	s.u32(uint32(len(x.Elems)))
	for _, v := range x.Elems {
		if err := s.value(v); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) bigInteger(z *big.Int) error {
	k := ptrKey(z)
	if s.ref(k) {
		return nil
	}
	s.object(bigIntegerDesc, k)
	s.u32(0xFFFFFFFF) // bitCount, bitLength: -1; firstNonzeroByteNum, lowestSetBit: -2
	s.u32(0xFFFFFFFF)
	s.u32(0xFFFFFFFE)
	s.u32(0xFFFFFFFE)
	s.u32(uint32(int32(z.Sign())))
	mag := z.Bytes()
	s.arrayHead(bytesDesc, refKey{}, len(mag))
	s.write(mag)
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) bigDecimal(x *BigDecimal) error {
	k := ptrKey(x)
	if s.ref(k) {
		return nil
	}
	if x.Unscaled == nil {
		return typeErr("BigDecimal without Unscaled")
	}
	s.object(bigDecimalDesc, k)
	s.u32(uint32(x.Scale))
	if err := s.value(x.Unscaled); err != nil {
		return err
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) enum(x *Enum) error {
	k := ptrKey(x)
	if s.ref(k) {
		return nil
	}
	if x.Class == nil || x.Class.Flags&SCEnum == 0 {
		return typeErr("enum %s: descriptor without SCEnum", x.Name)
	}
	s.buf = append(s.buf, tcEnum)
	if err := s.classDesc(x.Class); err != nil {
		return err
	}
	s.assign(k)
	s.str(x.Name)
	return nil
}

func (s *encState) genericArray(a *Array) error {
	k := ptrKey(a)
	if s.ref(k) {
		return nil
	}
	if a.Class == nil || len(a.Class.Name) < 2 || a.Class.Name[0] != '[' {
		return typeErr("*Array without an array class descriptor")
	}
	et := a.Class.Name[1]
	isObj := et == 'L' || et == '['
	f := Field{Type: et, Name: "element"}
	s.buf = append(s.buf, tcArray)
	if err := s.classDesc(a.Class); err != nil {
		return err
	}
	s.assign(k)
	s.u32(uint32(len(a.Elems)))
	for _, v := range a.Elems {
		if isObj {
			if err := s.value(v); err != nil {
				return err
			}
			continue
		}
		if err := s.prim(f, v); err != nil {
			return fmt.Errorf("%s: %w", a.Class.Name, err)
		}
	}
	return nil
}

func (s *encState) prim(f Field, v any) error {
	if err := checkField(f, v); err != nil {
		return err
	}
	switch x := v.(type) {
	case int8:
		s.buf = append(s.buf, byte(x))
	case bool:
		s.buf = append(s.buf, boolByte(x))
	case Char:
		s.u16(uint16(x))
	case int16:
		s.u16(uint16(x))
	case int32:
		s.u32(uint32(x))
	case float32:
		s.u32(math.Float32bits(x))
	case int64:
		s.u64(uint64(x))
	case float64:
		s.u64(math.Float64bits(x))
	}
	return nil
}

func (s *encState) genericObject(o *Object) error {
	k := ptrKey(o)
	if s.ref(k) {
		return nil
	}
	cd := o.Class
	if cd == nil || cd.Name == "" {
		return typeErr("*Object without a named class descriptor")
	}
	ext := cd.Flags&SCExternalizable != 0
	var chain []*ClassDesc
	if !ext {
		var err error
		if chain, err = s.dataChain(cd); err != nil {
			return err
		}
	}
	switch {
	case ext && cd.Flags&SCBlockData == 0:
		return typeErr("%s: externalizable without SCBlockData", cd.Name)
	case !ext && cd.Flags&SCSerializable == 0:
		return typeErr("%s: neither SCSerializable nor SCExternalizable", cd.Name)
	case cd.Flags&SCEnum != 0 || cd.Name[0] == '[':
		return typeErr("*Object of class %s", cd.Name)
	case !ext && len(o.Slots) != len(chain):
		return typeErr("%s: %d slots for %d classes with data", cd.Name, len(o.Slots), len(chain))
	}
	s.buf = append(s.buf, tcObject)
	if err := s.classDesc(cd); err != nil {
		return err
	}
	s.assign(k)
	if ext {
		return s.contents(o.External)
	}
	for i, c := range chain {
		sl := &o.Slots[i]
		if sl.Class != c {
			return typeErr("%s: slot %d is for class %v, want %s", cd.Name, i, className(sl.Class), c.Name)
		}
		if len(sl.Values) != len(c.Fields) {
			return typeErr("%s: %d values for %d fields", c.Name, len(sl.Values), len(c.Fields))
		}
		for j, f := range c.Fields {
			var err error
			if f.Type == 'L' || f.Type == '[' {
				err = checkField(f, sl.Values[j])
				if err == nil {
					err = s.value(sl.Values[j])
				}
			} else {
				err = s.prim(f, sl.Values[j])
			}
			if err != nil {
				return fmt.Errorf("%s.%s: %w", c.Name, f.Name, err)
			}
		}
		if c.Flags&SCWriteMethod != 0 {
			if err := s.contents(sl.Annotation); err != nil {
				return err
			}
		} else if len(sl.Annotation) > 0 {
			return typeErr("%s: annotation without SCWriteMethod", c.Name)
		}
	}
	return nil
}

func className(c *ClassDesc) string {
	if c == nil {
		return "<nil>"
	}
	return c.Name
}

// dataChain is ClassDesc.dataChain, computed once per descriptor and element.
func (s *encState) dataChain(cd *ClassDesc) ([]*ClassDesc, error) {
	if c, ok := s.chains[cd]; ok {
		return c, nil
	}
	c, err := cd.dataChain()
	if err != nil {
		return nil, err
	}
	if s.chains == nil {
		s.chains = map[*ClassDesc][]*ClassDesc{}
	}
	s.chains[cd] = c
	return c, nil
}

// handleTable maps refKeys to handles: open addressing with linear probing and a
// cheap multiplicative hash, faster than a Go map for these 24-byte keys. A zero
// kind marks an empty slot (keys of kind kindNone are never stored).
type handleTable struct {
	keys []refKey
	vals []int32
	used int
}

func (t *handleTable) slot(k refKey) int {
	h := (uint64(k.p) ^ uint64(k.n)*0x9E3779B97F4A7C15 ^ uint64(k.k)<<56) * 0xBF58476D1CE4E5B9
	return int(h>>32) & (len(t.keys) - 1)
}

func (t *handleTable) get(k refKey) (int32, bool) {
	if t.used == 0 {
		return 0, false
	}
	for i := t.slot(k); ; i = (i + 1) & (len(t.keys) - 1) {
		switch t.keys[i] {
		case k:
			return t.vals[i], true
		case refKey{}:
			return 0, false
		}
	}
}

// getOrPut returns the handle of k, or stores v for it and reports false.
func (t *handleTable) getOrPut(k refKey, v int32) (int32, bool) {
	if 2*(t.used+1) > len(t.keys) {
		t.grow()
	}
	i := t.slot(k)
	for {
		switch t.keys[i] {
		case k:
			return t.vals[i], true
		case refKey{}:
			t.keys[i], t.vals[i] = k, v
			t.used++
			return 0, false
		}
		i = (i + 1) & (len(t.keys) - 1)
	}
}

func (t *handleTable) put(k refKey, v int32) {
	if 2*(t.used+1) > len(t.keys) {
		t.grow()
	}
	i := t.slot(k)
	for t.keys[i] != (refKey{}) && t.keys[i] != k {
		i = (i + 1) & (len(t.keys) - 1)
	}
	if t.keys[i] == (refKey{}) {
		t.used++
	}
	t.keys[i], t.vals[i] = k, v
}

func (t *handleTable) grow() {
	old, oldv := t.keys, t.vals
	n := max(64, 2*len(old))
	t.keys, t.vals, t.used = make([]refKey, n), make([]int32, n), 0
	for i, k := range old {
		if k != (refKey{}) {
			t.put(k, oldv[i])
		}
	}
}

// reset empties the table; a table grown large by one stream is dropped.
func (t *handleTable) reset() {
	if len(t.keys) > 4096 {
		*t = handleTable{}
		return
	}
	if t.used > 0 {
		clear(t.keys)
		t.used = 0
	}
}
