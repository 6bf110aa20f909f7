package jserial

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
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
// value, then each value, sharing the handle table as ObjectOutputStream does.
type Encoder struct {
	w       io.Writer
	buf     []byte
	started bool
	e       encState
}

// encState is the state of the encoding proper.
type encState struct {
	buf      []byte
	maxDepth int
	depth    int
	next     int32            // handles assigned so far
	handles  map[refKey]int32 // identity -> handle
	types    map[string]int32 // field signatures by value (Java interns them)
}

// refKey identifies a Java object: a Go pointer (and length, for strings and slices)
// of a kind, or a small boxed value Java's valueOf caches.
type refKey struct {
	p unsafe.Pointer
	n int64
	k kind
}

// NewEncoder returns an Encoder writing to w. Each Encode call writes its bytes to w
// with one Write.
func NewEncoder(w io.Writer, cfg EncoderConfig) (*Encoder, error) {
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
	s.handles = map[refKey]int32{}
	s.types = map[string]int32{}
}

func (s *encState) reset() {
	s.next = 0
	clear(s.handles)
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
	if _, err := e.w.Write(e.buf); err != nil {
		return err
	}
	e.started = true
	return nil
}

// Reset writes TC_RESET: later values do not refer to earlier ones.
func (e *Encoder) Reset() error { return e.Encode(Reset{}) }

var encPool = sync.Pool{New: func() any {
	s := &encState{}
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
		dst = make([]byte, 0, 256)
	}
	s.buf = append(dst, 0xAC, 0xED, 0, streamVersion)
	if err := s.top(v); err != nil {
		return nil, err
	}
	return s.buf, nil
}

func (s *encState) top(v any) error {
	s.depth = 0
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
		s.buf = be32a(s.buf, uint32(len(b)))
	}
	s.buf = append(s.buf, b...)
}

func be16a(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }
func be32a(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
func be64a(b []byte, v uint64) []byte { return be32a(be32a(b, uint32(v>>32)), uint32(v)) }

// ref writes TC_REFERENCE if k was written before and reports whether it did.
func (s *encState) ref(k refKey) bool {
	if h, ok := s.handles[k]; ok {
		s.buf = append(s.buf, tcReference)
		s.buf = be32a(s.buf, uint32(baseWireHandle+h))
		return true
	}
	return false
}

// assign gives the next handle to k (an object that cannot be referenced again: a nil p
// with kind 0).
func (s *encState) assign(k refKey) {
	if k.k != kindNone {
		s.handles[k] = s.next
	}
	s.next++
}

func ptrKey[T any](p *T) refKey { return refKey{p: unsafe.Pointer(p), k: kindPtr} }

func sliceKey[T any](a []T, k kind) refKey {
	return refKey{p: unsafe.Pointer(unsafe.SliceData(a)), n: int64(len(a)), k: k}
}

// Kinds of refKey beyond the mapped classes.
const (
	kindString kind = 100 + iota
	kindPtr
)

func (s *encState) value(v any) error {
	s.depth++
	defer func() { s.depth-- }()
	if s.depth > s.maxDepth {
		return fmt.Errorf("%w: nesting deeper than MaxDepth %d", ErrLimit, s.maxDepth)
	}
	switch x := v.(type) {
	case nil:
		s.buf = append(s.buf, tcNull)
	case string:
		s.str(x)
	case bool:
		n := int64(0)
		if x {
			n = 1
		}
		s.boxed(booleanDesc, n, true, func() { s.buf = append(s.buf, byte(n)) })
	case int8:
		s.boxed(byteDesc, int64(x), true, func() { s.buf = append(s.buf, byte(x)) })
	case int16:
		s.boxed(shortDesc, int64(x), x >= -128 && x <= 127, func() { s.buf = be16a(s.buf, uint16(x)) })
	case Char:
		s.boxed(characterDesc, int64(x), x <= 127, func() { s.buf = be16a(s.buf, uint16(x)) })
	case int32:
		s.boxed(integerDesc, int64(x), x >= -128 && x <= 127, func() { s.buf = be32a(s.buf, uint32(x)) })
	case int64:
		s.boxed(longDesc, x, x >= -128 && x <= 127, func() { s.buf = be64a(s.buf, uint64(x)) })
	case float32:
		s.boxed(floatDesc, 0, false, func() { s.buf = be32a(s.buf, math.Float32bits(x)) })
	case float64:
		s.boxed(doubleDesc, 0, false, func() { s.buf = be64a(s.buf, math.Float64bits(x)) })
	case UUID:
		s.object(uuidDesc, refKey{})
		s.buf = append(s.buf, x[8:]...)
		s.buf = append(s.buf, x[:8]...)
	case time.Time:
		s.object(dateDesc, refKey{})
		s.buf = append(s.buf, tcBlockData, 8)
		s.buf = be64a(s.buf, uint64(x.UnixMilli()))
		s.buf = append(s.buf, tcEndBlockData)
	case []byte:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindBytes); !s.ref(k) {
			s.arrayHead(bytesDesc, k, len(x))
			s.buf = append(s.buf, x...)
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
				s.buf = be16a(s.buf, uint16(v))
			}
		}
	case []Char:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindChars); !s.ref(k) {
			s.arrayHead(charsDesc, k, len(x))
			for _, v := range x {
				s.buf = be16a(s.buf, uint16(v))
			}
		}
	case []int32:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindInts); !s.ref(k) {
			s.arrayHead(intsDesc, k, len(x))
			for _, v := range x {
				s.buf = be32a(s.buf, uint32(v))
			}
		}
	case []int64:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindLongs); !s.ref(k) {
			s.arrayHead(longsDesc, k, len(x))
			for _, v := range x {
				s.buf = be64a(s.buf, uint64(v))
			}
		}
	case []float32:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindFloats); !s.ref(k) {
			s.arrayHead(floatsDesc, k, len(x))
			for _, v := range x {
				s.buf = be32a(s.buf, math.Float32bits(v))
			}
		}
	case []float64:
		if x == nil {
			s.buf = append(s.buf, tcNull)
		} else if k := sliceKey(x, kindDoubles); !s.ref(k) {
			s.arrayHead(doublesDesc, k, len(x))
			for _, v := range x {
				s.buf = be64a(s.buf, math.Float64bits(v))
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

// boxed writes a boxed primitive; shared says whether Java's valueOf returns a cached
// instance for this value (then equal values are one object, as in Java).
func (s *encState) boxed(cd *ClassDesc, n int64, shared bool, data func()) {
	k := refKey{}
	if shared {
		k = refKey{n: n, k: cd.kind}
		if s.ref(k) {
			return
		}
	}
	s.object(cd, k)
	data()
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
	s.buf = be32a(s.buf, uint32(n))
}

// str writes a string; the same Go string memory written twice is a back-reference.
func (s *encState) str(x string) {
	k := refKey{p: unsafe.Pointer(unsafe.StringData(x)), n: int64(len(x)), k: kindString}
	if s.ref(k) {
		return
	}
	s.newString(x, k)
}

func (s *encState) newString(x string, k refKey) {
	n, plain := mutf8Len(x)
	if n <= 0xFFFF {
		s.buf = append(s.buf, tcString)
		s.buf = be16a(s.buf, uint16(n))
	} else {
		s.buf = append(s.buf, tcLongString)
		s.buf = be64a(s.buf, uint64(n))
	}
	if plain {
		s.buf = append(s.buf, x...)
	} else {
		s.buf = appendMUTF8(s.buf, x)
	}
	s.assign(k)
}

// utf writes a u2-length modified UTF-8 string.
func (s *encState) utf(x string) error {
	n, plain := mutf8Len(x)
	if n > 0xFFFF {
		return typeErr("name of %d bytes", n)
	}
	s.buf = be16a(s.buf, uint16(n))
	if plain {
		s.buf = append(s.buf, x...)
	} else {
		s.buf = appendMUTF8(s.buf, x)
	}
	return nil
}

// typeString writes a field signature: shared with an earlier signature of the same
// value (Java interns them) or with the very same string value written before.
func (s *encState) typeString(x string) {
	k := refKey{p: unsafe.Pointer(unsafe.StringData(x)), n: int64(len(x)), k: kindString}
	if s.ref(k) {
		return
	}
	if h, ok := s.types[x]; ok {
		s.buf = append(s.buf, tcReference)
		s.buf = be32a(s.buf, uint32(baseWireHandle+h))
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
	defer func() { s.depth-- }()
	if s.depth > s.maxDepth {
		return fmt.Errorf("%w: class descriptors nested deeper than MaxDepth %d", ErrLimit, s.maxDepth)
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
	s.buf = be64a(s.buf, uint64(cd.SUID))
	s.assign(k)
	s.buf = append(s.buf, cd.Flags)
	s.buf = be16a(s.buf, uint16(len(cd.Fields)))
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
		s.buf = be32a(s.buf, uint32(len(elems)))
	}
	s.buf = append(s.buf, tcBlockData, 4)
	s.buf = be32a(s.buf, uint32(len(elems)))
	for _, v := range elems {
		if err := s.value(v); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) entries(es []Entry) error {
	s.buf = be32a(s.buf, uint32(len(es)))
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
		s.buf = be32a(s.buf, math.Float32bits(lf))
		s.buf = be32a(s.buf, uint32(th))
		s.buf = append(s.buf, tcBlockData, 8)
		s.buf = be32a(s.buf, uint32(c))
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
	s.buf = be32a(s.buf, uint32(c))
	s.buf = be32a(s.buf, math.Float32bits(lf))
	s.buf = be32a(s.buf, uint32(len(x.Elems)))
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
	s.buf = be32a(s.buf, 0xFFFFFFFF) // bitCount, bitLength: -1; firstNonzeroByteNum, lowestSetBit: -2
	s.buf = be32a(s.buf, 0xFFFFFFFF)
	s.buf = be32a(s.buf, 0xFFFFFFFE)
	s.buf = be32a(s.buf, 0xFFFFFFFE)
	s.buf = be32a(s.buf, uint32(int32(z.Sign())))
	mag := z.Bytes()
	s.arrayHead(bytesDesc, refKey{}, len(mag))
	s.buf = append(s.buf, mag...)
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
	s.buf = be32a(s.buf, uint32(x.Scale))
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
	s.buf = be32a(s.buf, uint32(len(a.Elems)))
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
		s.buf = be16a(s.buf, uint16(x))
	case int16:
		s.buf = be16a(s.buf, uint16(x))
	case int32:
		s.buf = be32a(s.buf, uint32(x))
	case float32:
		s.buf = be32a(s.buf, math.Float32bits(x))
	case int64:
		s.buf = be64a(s.buf, uint64(x))
	case float64:
		s.buf = be64a(s.buf, math.Float64bits(x))
	}
	return nil
}

func (s *encState) genericObject(o *Object) error {
	k := ptrKey(o)
	if s.ref(k) {
		return nil
	}
	cd := o.Class
	if cd == nil {
		return typeErr("*Object without class descriptor")
	}
	chain, err := cd.Hierarchy()
	if err != nil {
		return err
	}
	ext := cd.Flags&SCExternalizable != 0
	switch {
	case ext && cd.Flags&SCBlockData == 0:
		return typeErr("%s: externalizable without SCBlockData", cd.Name)
	case !ext && cd.Flags&SCSerializable == 0:
		return typeErr("%s: neither SCSerializable nor SCExternalizable", cd.Name)
	case cd.Flags&SCEnum != 0 || cd.Name[0] == '[':
		return typeErr("*Object of class %s", cd.Name)
	case !ext && len(o.Slots) != len(chain):
		return typeErr("%s: %d slots for %d classes", cd.Name, len(o.Slots), len(chain))
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
