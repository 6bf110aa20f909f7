package jserial

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"unsafe"
)

// DecoderConfig limits what a Decoder accepts. Zero fields take the defaults.
type DecoderConfig struct {
	// MaxDepth bounds the nesting of objects, arrays and class descriptors
	// (ObjectInputFilter's maxdepth). Default 1000.
	MaxDepth int
	// MaxHandles bounds the handle table: the number of objects, strings, arrays,
	// enums, classes and class descriptors between resets (maxrefs). Default 1<<20.
	MaxHandles int
	// MaxArrayLen bounds the length of an array and the size of a collection
	// (maxarray). Default 1<<24.
	MaxArrayLen int
	// MaxBytes bounds the length of the whole stream (maxbytes). Default 64 MiB.
	MaxBytes int64
}

// Defaults of DecoderConfig.
const (
	DefaultMaxDepth    = 1000
	DefaultMaxHandles  = 1 << 20
	DefaultMaxArrayLen = 1 << 24
	DefaultMaxBytes    = 64 << 20
)

func (c DecoderConfig) withDefaults() (DecoderConfig, error) {
	if c.MaxDepth < 0 || c.MaxHandles < 0 || c.MaxArrayLen < 0 || c.MaxBytes < 0 {
		return c, errors.New("jserial: negative DecoderConfig limit")
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.MaxHandles == 0 {
		c.MaxHandles = DefaultMaxHandles
	}
	if c.MaxArrayLen == 0 {
		c.MaxArrayLen = DefaultMaxArrayLen
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	return c, nil
}

// inProgress marks the handle of a descriptor or mapped value still being read.
type inProgress struct{}

// Decoder reads the elements of one serialization stream.
type Decoder struct {
	src     source
	cfg     DecoderConfig
	handles []any
	depth   int
	started bool
	err     error
	scratch []*ClassDesc
}

// NewDecoder returns a Decoder reading the stream from r. It reads r as needed; it
// errors only on an invalid config.
func NewDecoder(r io.Reader, cfg DecoderConfig) (*Decoder, error) {
	if r == nil {
		return nil, errors.New("jserial: NewDecoder with a nil io.Reader")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Decoder{src: source{r: r, max: cfg.MaxBytes}, cfg: cfg}, nil
}

func newBytesDecoder(b []byte, cfg DecoderConfig) (*Decoder, error) {
	d := &Decoder{}
	return d, d.init(b, cfg)
}

func (d *Decoder) init(b []byte, cfg DecoderConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	d.cfg = cfg
	d.src = source{buf: b, max: cfg.MaxBytes}
	if int64(len(b)) > cfg.MaxBytes {
		d.src.buf = b[:cfg.MaxBytes]
		d.src.limited = true
	}
	return nil
}

var decPool = sync.Pool{New: func() any { return new(Decoder) }}

// Unmarshal decodes a stream holding exactly one element (Tribes' payloads), with the
// default limits.
func Unmarshal(b []byte) (any, error) {
	return UnmarshalConfig(b, DecoderConfig{})
}

// UnmarshalConfig is Unmarshal with the limits of cfg.
func UnmarshalConfig(b []byte, cfg DecoderConfig) (any, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := decPool.Get().(*Decoder)
	defer func() {
		clear(d.handles)
		*d = Decoder{handles: d.handles[:0], scratch: d.scratch[:0]}
		if cap(d.handles) <= 4096 {
			decPool.Put(d)
		}
	}()
	_ = d.init(b, cfg) // cfg is valid
	v, err := d.Decode()
	if err == io.EOF {
		return nil, d.fail(ErrTruncated, "no element after the header")
	}
	if err != nil {
		return nil, err
	}
	if eof, err := d.src.atEOF(); err != nil || !eof {
		return nil, d.fail(ErrTrailingData, "")
	}
	return v, nil
}

// UnmarshalAll decodes every element of a stream: values, BlockData between them (for
// example a DeltaRequest's writeExternal output) and Reset markers.
func UnmarshalAll(b []byte, cfg DecoderConfig) ([]any, error) {
	d, err := newBytesDecoder(b, cfg)
	if err != nil {
		return nil, err
	}
	var out []any
	for {
		v, err := d.Decode()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// Decode returns the next top-level element: a value (see the package documentation
// for the Go types), a BlockData, or Reset. It returns io.EOF at the clean end of the
// stream. After an error the Decoder keeps returning that error.
func (d *Decoder) Decode() (any, error) {
	if d.err != nil {
		return nil, d.err
	}
	v, err := d.decode()
	if err != nil {
		if err != io.EOF {
			var de *DecodeError
			if !errors.As(err, &de) {
				err = &DecodeError{Offset: d.src.offset(), Err: err}
			}
		}
		d.err = err
	}
	return v, err
}

func (d *Decoder) decode() (any, error) {
	if !d.started {
		h, err := d.src.take(4)
		if err != nil {
			if err == ErrTruncated {
				return nil, d.fail(ErrBadHeader, "stream shorter than its header")
			}
			return nil, err
		}
		if h[0] != 0xAC || h[1] != 0xED || h[2] != 0 || h[3] != streamVersion {
			return nil, d.fail(ErrBadHeader, fmt.Sprintf("% x", h))
		}
		d.started = true
	}
	eof, err := d.src.atEOF()
	if err != nil {
		return nil, err
	}
	if eof {
		return nil, io.EOF
	}
	tc, _ := d.src.peek()
	if tc == tcReset {
		d.src.pos++
		d.handles = d.handles[:0]
		return Reset{}, nil
	}
	return d.content(true)
}

func (d *Decoder) fail(err error, detail string) error {
	return &DecodeError{Offset: d.src.offset(), Err: err, Detail: detail}
}

func (d *Decoder) failf(err error, format string, args ...any) error {
	return d.fail(err, fmt.Sprintf(format, args...))
}

func (d *Decoder) newHandle(v any) (int, error) {
	if len(d.handles) >= d.cfg.MaxHandles {
		return 0, d.failf(ErrLimit, "more than %d handles", d.cfg.MaxHandles)
	}
	d.handles = append(d.handles, v)
	return len(d.handles) - 1, nil
}

// count checks a length read off the wire against MaxArrayLen and, when the whole
// input is known, against what is left of it (each element takes at least minSize
// bytes). It returns the capacity to preallocate: the length, or at most 1024 while
// the rest of the input is unknown (the slice then grows with the elements read).
func (d *Decoder) count(n int32, minSize int, what string) (int, error) {
	if n < 0 {
		return 0, d.failf(ErrMalformed, "negative %s length %d", what, n)
	}
	if int(n) > d.cfg.MaxArrayLen {
		return 0, d.failf(ErrLimit, "%s length %d > MaxArrayLen %d", what, n, d.cfg.MaxArrayLen)
	}
	if rem := d.src.knownRemaining(); rem >= 0 {
		if int64(n)*int64(minSize) > int64(rem) {
			if d.src.limited {
				return 0, d.failf(ErrLimit, "%s length %d beyond MaxBytes", what, n)
			}
			return 0, d.failf(ErrTruncated, "%s length %d, %d bytes left", what, n, rem)
		}
		return int(n), nil
	}
	return min(int(n), 1024), nil
}

func (d *Decoder) enter() error {
	d.depth++
	if d.depth > d.cfg.MaxDepth {
		return d.failf(ErrLimit, "nesting deeper than MaxDepth %d", d.cfg.MaxDepth)
	}
	return nil
}

// content reads one element; block data only where allowBlock.
func (d *Decoder) content(allowBlock bool) (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	v, err := d.content1(allowBlock)
	d.depth--
	return v, err
}

func (d *Decoder) content1(allowBlock bool) (any, error) {
	tc, err := d.src.u8()
	if err != nil {
		return nil, err
	}
	switch tc {
	case tcNull:
		return nil, nil
	case tcReference:
		v, err := d.reference()
		if err != nil {
			return nil, err
		}
		return v, nil
	case tcString, tcLongString:
		return d.newString(tc)
	case tcObject:
		return d.object()
	case tcArray:
		return d.array()
	case tcEnum:
		return d.enum()
	case tcClass:
		cd, err := d.classDesc()
		if err != nil {
			return nil, err
		}
		c := &Class{Desc: cd}
		if _, err := d.newHandle(c); err != nil {
			return nil, err
		}
		return c, nil
	case tcClassDesc, tcProxyClassDesc:
		d.src.pos--
		return d.classDesc()
	case tcBlockData, tcBlockDataLong:
		if !allowBlock {
			return nil, d.fail(ErrMalformed, "block data where an object is expected")
		}
		return d.blockData(tc)
	case tcEndBlockData:
		return nil, d.fail(ErrMalformed, "unexpected TC_ENDBLOCKDATA")
	case tcReset:
		return nil, d.fail(ErrMalformed, "TC_RESET inside an object")
	case tcException:
		return nil, d.fail(ErrUnsupported, "TC_EXCEPTION")
	}
	d.src.pos--
	return nil, d.failf(ErrUnknownTypeCode, "0x%02x", tc)
}

func (d *Decoder) reference() (any, error) {
	h, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	i := int64(h) - baseWireHandle
	if i < 0 || i >= int64(len(d.handles)) {
		return nil, d.failf(ErrMalformed, "invalid handle 0x%x", h)
	}
	v := d.handles[i]
	if _, ok := v.(inProgress); ok {
		return nil, d.failf(ErrCycle, "reference to handle 0x%x while it is being read", h)
	}
	return v, nil
}

func (d *Decoder) blockData(tc byte) (BlockData, error) {
	var n int
	if tc == tcBlockData {
		b, err := d.src.u8()
		if err != nil {
			return nil, err
		}
		n = int(b)
	} else {
		l, err := d.src.u32()
		if err != nil {
			return nil, err
		}
		if int32(l) < 0 {
			return nil, d.failf(ErrMalformed, "negative block length %d", int32(l))
		}
		n = int(l)
	}
	b, err := d.src.take(n)
	if err != nil {
		return nil, err
	}
	return BlockData(append(make([]byte, 0, max(n, 1)), b...)), nil
}

// utf reads a u2-length modified UTF-8 string (not an object).
func (d *Decoder) utf() (string, error) {
	n, err := d.src.u16()
	if err != nil {
		return "", err
	}
	b, err := d.src.take(int(n))
	if err != nil {
		return "", err
	}
	s, err := decodeMUTF8(b)
	if err != nil {
		return "", d.fail(err, "invalid modified UTF-8")
	}
	return s, nil
}

// newString reads the body of TC_STRING / TC_LONGSTRING and assigns its handle. Every
// decoded string has its own memory (an empty one too), so that the encoder can tell
// a back-reference (the same string) from an equal string.
func (d *Decoder) newString(tc byte) (any, error) {
	var n int64
	if tc == tcString {
		l, err := d.src.u16()
		if err != nil {
			return nil, err
		}
		n = int64(l)
	} else {
		l, err := d.src.u64()
		if err != nil {
			return nil, err
		}
		if int64(l) < 0 || int64(l) > d.src.max {
			return nil, d.failf(ErrLimit, "string length %d", int64(l))
		}
		n = int64(l)
	}
	b, err := d.src.take(int(n))
	if err != nil {
		return nil, err
	}
	str, err := decodeMUTF8(b)
	if err != nil {
		return nil, d.fail(err, "invalid modified UTF-8")
	}
	if str == "" {
		str = unsafe.String(new(byte), 0)
	}
	var s any = str // boxed once, for the handle table and the caller
	if _, err := d.newHandle(s); err != nil {
		return nil, err
	}
	return s, nil
}

// typeString reads a field's type signature: a string or a reference to one.
func (d *Decoder) typeString() (string, error) {
	v, err := d.content(false)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", d.failf(ErrMalformed, "field type signature is %T", v)
	}
	return s, nil
}

// classDesc reads a class descriptor: TC_CLASSDESC, TC_NULL or TC_REFERENCE.
func (d *Decoder) classDesc() (*ClassDesc, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	cd, err := d.classDesc1()
	d.depth--
	return cd, err
}

func (d *Decoder) classDesc1() (*ClassDesc, error) {
	tc, err := d.src.u8()
	if err != nil {
		return nil, err
	}
	switch tc {
	case tcNull:
		return nil, nil
	case tcReference:
		v, err := d.reference()
		if err != nil {
			return nil, err
		}
		cd, ok := v.(*ClassDesc)
		if !ok {
			return nil, d.failf(ErrMalformed, "reference to a %T where a class descriptor is expected", v)
		}
		return cd, nil
	case tcProxyClassDesc:
		return nil, d.fail(ErrUnsupported, "TC_PROXYCLASSDESC")
	case tcClassDesc:
	default:
		d.src.pos--
		return nil, d.failf(ErrUnknownTypeCode, "0x%02x where a class descriptor is expected", tc)
	}
	if m := d.peekJDK(); m != nil {
		return d.jdkDesc(m)
	}
	name, err := d.utf()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, d.fail(ErrMalformed, "empty class name")
	}
	suid, err := d.src.u64()
	if err != nil {
		return nil, err
	}
	cd := &ClassDesc{Name: name, SUID: int64(suid)}
	h, err := d.newHandle(inProgress{})
	if err != nil {
		return nil, err
	}
	if cd.Flags, err = d.src.u8(); err != nil {
		return nil, err
	}
	if cd.Flags&SCSerializable != 0 && cd.Flags&SCExternalizable != 0 {
		return nil, d.failf(ErrMalformed, "%s: serializable and externalizable flags conflict", name)
	}
	nf, err := d.src.u16()
	if err != nil {
		return nil, err
	}
	if nf > 0 {
		if cd.Flags&SCEnum != 0 {
			return nil, d.failf(ErrMalformed, "enum %s with fields", name)
		}
		if _, err := d.count(int32(nf), 3, "field list"); err != nil {
			return nil, err
		}
		cd.Fields = make([]Field, nf)
		seenObject := false
		for i := range cd.Fields {
			f := &cd.Fields[i]
			if f.Type, err = d.src.u8(); err != nil {
				return nil, err
			}
			if f.Name, err = d.utf(); err != nil {
				return nil, err
			}
			switch f.Type {
			case 'B', 'C', 'D', 'F', 'I', 'J', 'S', 'Z':
				if seenObject {
					return nil, d.failf(ErrMalformed, "%s: illegal field order", name)
				}
			case 'L', '[':
				seenObject = true
				if f.Signature, err = d.typeString(); err != nil {
					return nil, err
				}
			default:
				return nil, d.failf(ErrMalformed, "%s.%s: field type code 0x%02x", name, f.Name, f.Type)
			}
		}
	}
	if cd.Annotation, err = d.annotation(); err != nil {
		return nil, err
	}
	if cd.Super, err = d.classDesc(); err != nil {
		return nil, err
	}
	if (cd.Flags&SCEnum != 0) && cd.SUID != 0 {
		return nil, d.failf(ErrMalformed, "enum %s with serialVersionUID %d", name, cd.SUID)
	}
	c, err := canonical(cd)
	if err != nil {
		return nil, d.fail(ErrSUIDMismatch, err.Error())
	}
	if c == cd {
		cd.linkDataSuper()
	}
	d.handles[h] = c
	return c, nil
}

// peekJDK returns the package's descriptor when the buffered input continues with
// exactly its bytes (up to the superclass), as the JVM writes them.
func (d *Decoder) peekJDK() *ClassDesc {
	rest := d.src.buf[d.src.pos:]
	if len(rest) < 2 {
		return nil
	}
	n := int(be16(rest))
	if len(rest) < 2+n {
		return nil
	}
	m := mappedDescs[string(rest[2:2+n])]
	if m == nil || m.wire == nil || !bytes.HasPrefix(rest, m.wire[1:]) {
		return nil
	}
	return m
}

// jdkDesc reads the rest of the JDK descriptor m found by peekJDK: no allocation for
// the common case.
func (d *Decoder) jdkDesc(m *ClassDesc) (*ClassDesc, error) {
	d.src.pos += len(m.wire) - 1
	h, err := d.newHandle(inProgress{})
	if err != nil {
		return nil, err
	}
	super, err := d.classDesc()
	if err != nil {
		return nil, err
	}
	cd := m
	if super != m.Super { // unusual: keep it generic
		cd = &ClassDesc{Name: m.Name, SUID: m.SUID, Flags: m.Flags, Fields: slices.Clone(m.Fields), Super: super}
		cd.linkDataSuper()
	}
	d.handles[h] = cd
	return cd, nil
}

// annotation reads BlockData and values up to TC_ENDBLOCKDATA.
func (d *Decoder) annotation() ([]any, error) {
	var out []any
	for {
		tc, err := d.src.peek()
		if err != nil {
			return nil, err
		}
		if tc == tcEndBlockData {
			d.src.pos++
			return out, nil
		}
		v, err := d.content(true)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

func (d *Decoder) object() (any, error) {
	cd, err := d.classDesc()
	if err != nil {
		return nil, err
	}
	if cd == nil {
		return nil, d.fail(ErrMalformed, "object without class descriptor")
	}
	if cd.Flags&SCEnum != 0 || cd.Name[0] == '[' {
		return nil, d.failf(ErrMalformed, "TC_OBJECT of class %s", cd.Name)
	}
	if cd.kind != kindNone {
		return d.mapped(cd)
	}
	o := &Object{Class: cd}
	if _, err := d.newHandle(o); err != nil {
		return nil, err
	}
	if cd.Flags&SCExternalizable != 0 {
		if cd.Flags&SCBlockData == 0 {
			return nil, d.failf(ErrUnsupported, "%s: externalizable data without SC_BLOCK_DATA", cd.Name)
		}
		if o.External, err = d.annotation(); err != nil {
			return nil, err
		}
		return o, nil
	}
	if cd.Flags&SCSerializable == 0 {
		return nil, d.failf(ErrMalformed, "%s is neither serializable nor externalizable", cd.Name)
	}
	// The classes with data, collected along dataSuper: work and memory stay
	// proportional to the data read, however long the class hierarchy is.
	chain := d.scratch[:0]
	for c := cd; c != nil; c = c.dataSuper {
		if c.hasData() {
			chain = append(chain, c)
		}
	}
	d.scratch = chain[:0] // reused by nested objects: copy it out first
	o.Slots = make([]Slot, len(chain))
	for i := range o.Slots {
		o.Slots[i].Class = chain[len(chain)-1-i]
	}
	for i := range o.Slots {
		sl := &o.Slots[i]
		c := sl.Class
		if sl.Values, err = d.fieldValues(c); err != nil {
			return nil, err
		}
		if c.Flags&SCWriteMethod != 0 {
			if sl.Annotation, err = d.annotation(); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

func (d *Decoder) fieldValues(c *ClassDesc) ([]any, error) {
	if len(c.Fields) == 0 {
		return nil, nil
	}
	vals := make([]any, len(c.Fields))
	for i, f := range c.Fields {
		var err error
		if f.Type == 'L' || f.Type == '[' {
			vals[i], err = d.content(false)
		} else {
			vals[i], err = d.prim(f.Type)
		}
		if err != nil {
			return nil, err
		}
	}
	return vals, nil
}

func primSize(t byte) int {
	switch t {
	case 'B', 'Z':
		return 1
	case 'C', 'S':
		return 2
	case 'I', 'F':
		return 4
	case 'J', 'D':
		return 8
	}
	return 0
}

func (d *Decoder) prim(t byte) (any, error) {
	b, err := d.src.take(primSize(t))
	if err != nil {
		return nil, err
	}
	return primFrom(t, b), nil
}

func primFrom(t byte, b []byte) any {
	switch t {
	case 'B':
		return int8(b[0])
	case 'Z':
		return b[0] != 0
	case 'C':
		return Char(be16(b))
	case 'S':
		return int16(be16(b))
	case 'I':
		return int32(be32(b))
	case 'F':
		return math.Float32frombits(be32(b))
	case 'J':
		return int64(be64(b))
	case 'D':
		return math.Float64frombits(be64(b))
	}
	return nil
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }

func (d *Decoder) array() (any, error) {
	cd, err := d.classDesc()
	if err != nil {
		return nil, err
	}
	if cd == nil || len(cd.Name) < 2 || cd.Name[0] != '[' {
		return nil, d.fail(ErrMalformed, "TC_ARRAY without an array class descriptor")
	}
	l, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	et := cd.Name[1]
	size := primSize(et)
	if cd.kind != kindNone {
		if _, err := d.count(int32(l), size, "array"); err != nil {
			return nil, err
		}
		// The elements are read (source.need grows with the data received) before
		// the result is allocated.
		return d.primArray(cd.kind, int(l))
	}
	isObj := et == 'L' || et == '['
	if !isObj && size == 0 {
		return nil, d.failf(ErrMalformed, "array class %s", cd.Name)
	}
	n, err := d.count(int32(l), max(size, 1), "array")
	if err != nil {
		return nil, err
	}
	a := &Array{Class: cd, Elems: make([]any, 0, n)}
	if _, err := d.newHandle(a); err != nil {
		return nil, err
	}
	for i := 0; i < int(int32(l)); i++ {
		var v any
		if isObj {
			v, err = d.content(false)
		} else {
			v, err = d.prim(et)
		}
		if err != nil {
			return nil, err
		}
		a.Elems = append(a.Elems, v)
	}
	return a, nil
}

// primArray reads n elements of a primitive array with the JDK descriptor. Every
// decoded array has its own memory (an empty one too), for the same reason as strings.
func (d *Decoder) primArray(k kind, n int) (any, error) {
	var v any
	switch k {
	case kindBytes:
		b, err := d.src.take(n)
		if err != nil {
			return nil, err
		}
		v = append(make([]byte, 0, max(n, 1)), b...)
	case kindBools:
		b, err := d.src.take(n)
		if err != nil {
			return nil, err
		}
		a := make([]bool, n, max(n, 1))
		for i := range a {
			a[i] = b[i] != 0
		}
		v = a
	case kindShorts, kindChars:
		b, err := d.src.take(2 * n)
		if err != nil {
			return nil, err
		}
		if k == kindShorts {
			a := make([]int16, n, max(n, 1))
			for i := range a {
				a[i] = int16(be16(b[2*i:]))
			}
			v = a
		} else {
			a := make([]Char, n, max(n, 1))
			for i := range a {
				a[i] = Char(be16(b[2*i:]))
			}
			v = a
		}
	case kindInts, kindFloats:
		b, err := d.src.take(4 * n)
		if err != nil {
			return nil, err
		}
		if k == kindInts {
			a := make([]int32, n, max(n, 1))
			for i := range a {
				a[i] = int32(be32(b[4*i:]))
			}
			v = a
		} else {
			a := make([]float32, n, max(n, 1))
			for i := range a {
				a[i] = math.Float32frombits(be32(b[4*i:]))
			}
			v = a
		}
	case kindLongs, kindDoubles:
		b, err := d.src.take(8 * n)
		if err != nil {
			return nil, err
		}
		if k == kindLongs {
			a := make([]int64, n, max(n, 1))
			for i := range a {
				a[i] = int64(be64(b[8*i:]))
			}
			v = a
		} else {
			a := make([]float64, n, max(n, 1))
			for i := range a {
				a[i] = math.Float64frombits(be64(b[8*i:]))
			}
			v = a
		}
	default:
		return nil, d.fail(ErrMalformed, "array of a non-array class")
	}
	if _, err := d.newHandle(v); err != nil {
		return nil, err
	}
	return v, nil
}

func (d *Decoder) enum() (any, error) {
	cd, err := d.classDesc()
	if err != nil {
		return nil, err
	}
	if cd == nil || cd.Flags&SCEnum == 0 {
		return nil, d.fail(ErrMalformed, "TC_ENUM of a non-enum class")
	}
	e := &Enum{Class: cd}
	if _, err := d.newHandle(e); err != nil {
		return nil, err
	}
	v, err := d.content(false)
	if err != nil {
		return nil, err
	}
	s, ok := v.(string)
	if !ok {
		return nil, d.failf(ErrMalformed, "enum constant name is %T", v)
	}
	e.Name = s
	return e, nil
}
