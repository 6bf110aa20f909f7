package jserial

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"unsafe"
)

// DecoderConfig limits what a Decoder accepts. Zero fields take the defaults.
type DecoderConfig struct {
	// MaxDepth bounds the nesting of objects, arrays and class descriptors
	// (ObjectInputFilter's maxdepth). Default 1000.
	MaxDepth int
	// MaxHandles bounds the handle table: the number of objects, strings, arrays,
	// enums, classes and class descriptors between resets (maxrefs). Default 1<<20, or,
	// for input given whole (Unmarshal, UnmarshalConfig, UnmarshalAll), one per
	// handleBytes (8) bytes of it if that is more: the table then takes at most twice
	// the input's size, and a large stream of small objects (Tomcat's message of every
	// session) is not refused below MaxBytes.
	MaxHandles int
	// MaxArrayLen bounds the length of an array of objects and the size of a collection
	// (maxarray), whose elements take more memory decoded than on the wire. Default
	// 1<<24. An array of a primitive type (byte[], int[], ...) decodes to the bytes it
	// took on the wire, and only MaxBytes bounds it: Java's filter would apply maxarray
	// to it too, but a Tribes message often carries a whole payload (a state transfer's
	// sessions, a map's state) as one byte[].
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

// Validate reports a DecoderConfig that no decoder takes: a negative field. Its error
// wraps ErrInvalidConfig and names every field. Packages that hand a DecoderConfig on
// (rpc, replmap, staticsvc) call it in their constructors.
func (c DecoderConfig) Validate() error {
	if c.MaxDepth < 0 || c.MaxHandles < 0 || c.MaxArrayLen < 0 || c.MaxBytes < 0 {
		return fmt.Errorf("%w: negative DecoderConfig limit (MaxDepth %d, MaxHandles %d, MaxArrayLen %d, MaxBytes %d)",
			ErrInvalidConfig, c.MaxDepth, c.MaxHandles, c.MaxArrayLen, c.MaxBytes)
	}
	return nil
}

func (c DecoderConfig) withDefaults() (DecoderConfig, error) {
	if err := c.Validate(); err != nil {
		return c, err
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
	// claimed is how many bytes of what is left of the input the elements announced and
	// not read yet take at least: the open arrays' and collections' remaining elements
	// and the open objects' remaining field values (claim). A length read off the wire
	// must fit beside them (fits; from an io.Reader, they must have arrived), so that
	// what the decoder allocates ahead of the elements stays within a constant factor of
	// the input, however deeply arrays, collections and objects nest.
	claimed int
	// objBytes is what the objects read so far took: each Object, its Slots and its
	// slots' field values (chargeObject).
	objBytes int64
}

// NewDecoder returns a Decoder reading the stream from r. It reads r as needed; it
// errors only on a nil r or an invalid config (ErrInvalidConfig).
func NewDecoder(r io.Reader, cfg DecoderConfig) (*Decoder, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: NewDecoder with a nil io.Reader", ErrInvalidConfig)
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

// handleBytes is the input per handle that MaxHandles' default allows beyond
// DefaultMaxHandles, for input given whole. A Long, the smallest object Tomcat's session
// streams hold many of, takes 14 bytes.
const handleBytes = 8

func (d *Decoder) init(b []byte, cfg DecoderConfig) error {
	scale := cfg.MaxHandles == 0
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if scale {
		cfg.MaxHandles = max(cfg.MaxHandles, int(min(int64(len(b)), cfg.MaxBytes)/handleBytes))
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
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	d := decPool.Get().(*Decoder)
	defer func() {
		clear(d.handles)
		*d = Decoder{handles: d.handles[:0]}
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
		if out, err = d.appendCharged(out, v, "UnmarshalAll's result"); err != nil {
			return nil, err
		}
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
	if err == ErrLimit {
		return nil, d.failf(err, "the stream goes on beyond MaxBytes %d", d.cfg.MaxBytes)
	}
	if err != nil {
		return nil, err
	}
	if eof {
		return nil, io.EOF
	}
	tc, _ := d.src.peek()
	if tc == tcReset {
		d.src.pos++
		clear(d.handles) // drop what was decoded before, as Java's HandleTable.clear
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
	var err error
	if d.handles, err = d.appendCharged(d.handles, v, "handle table"); err != nil {
		return 0, err
	}
	return len(d.handles) - 1, nil
}

// appendCharged appends v to s, doubling its capacity when it is full, each array it
// grows to counted in the stream's objects' budget (chargeObject): the handle table and
// UnmarshalAll's result take a 16-byte value for an element that may be a byte (a
// TC_NULL, a string of three), and what their arrays take while growing comes to up to
// four times that (TestHandlesAndResultCharged). append would grow a large slice by a
// quarter, which allocates about five times its final size while growing, where
// doubling allocates at most twice it.
func (d *Decoder) appendCharged(s []any, v any, what string) ([]any, error) {
	if len(s) == cap(s) {
		size := max(16, 2*cap(s))
		if err := d.chargeObject(size*valueSize, what); err != nil {
			return s, err
		}
		grown := make([]any, len(s), size)
		copy(grown, s)
		s = grown
	}
	return append(s, v), nil
}

// count checks a length read off the wire against MaxArrayLen and against the input
// (fits: each element takes at least minSize bytes, which have arrived from an
// io.Reader). It returns the capacity to allocate: the length.
func (d *Decoder) count(n int32, minSize int, what string) (int, error) {
	if n >= 0 && int(n) > d.cfg.MaxArrayLen {
		return 0, d.failf(ErrLimit, "%s length %d > MaxArrayLen %d", what, n, d.cfg.MaxArrayLen)
	}
	if err := d.fits(n, minSize, what); err != nil {
		return 0, err
	}
	return int(n), nil
}

// prealloc is the capacity to allocate ahead of n elements whose room was checked
// (fits): n, or at most 1024 while the rest of the input is unknown.
func (d *Decoder) prealloc(n int) int {
	if d.src.r == nil {
		return n
	}
	return min(n, 1024)
}

// objectRate is how many bytes the objects of a stream (each Object, its Slots and their
// Values, as the runtime allocates them), the arrays the handle table and UnmarshalAll's
// result grow to (appendCharged), and arrays' and collections' elements, class
// descriptors and their fields (TestElementArraysAndDescriptorsCharged), may take per
// byte of the stream, beyond
// objectSlack: a Slot of 32 bytes and a value of 16 for each byte of data, what a class
// of one boolean field (or object field holding null) takes, and an object's handle and
// value in the result, up to 128 bytes while they grow. Objects of hierarchies of up to
// 47 classes with a boolean each take at most 50 times their stream with them and decode
// (TestClassDataBounded; the JDK's of 9, 12 and 16: TestJavaStreamsDecode); at the
// objects' budget of 32 times, hierarchies of nine and more were refused, and at 48
// times, with the handles counted, some of 33 to 44. Deeper ones whose slots and values
// the allocator rounds up far are refused (216 classes: 55.6 times without their
// handles; TestDeepHierarchiesOverTheBudget): the charge is what they allocate, and a
// budget that took them all, 58 times, would let decoding pass its 56. Objects of classes
// with more data than that, as Java writes them, take a few times their size.
const (
	objectRate  = 52
	objectSlack = 64 << 10
)

// chargeObject adds an allocation of n bytes, as the runtime takes it (allocSize: an
// Object of 56 bytes takes 64), to what the stream's objects take and fails with
// ErrLimit once they would take more than objectRate times the stream (the input when
// given whole, the bytes received so far from an io.Reader, decoded or not: an array's
// elements are received before it is allocated, fits) plus objectSlack.
func (d *Decoder) chargeObject(n int, what string) error {
	d.objBytes += int64(allocSize(n))
	size := d.src.received()
	if limit := objectRate*size + objectSlack; d.objBytes > limit {
		return d.failf(ErrLimit, "%s: the stream's objects would take %d bytes, over %d times its %d bytes plus %d",
			what, d.objBytes, objectRate, size, objectSlack)
	}
	return nil
}

// fits checks that a length read off the wire is not negative and that n elements of at
// least minSize bytes each fit in what is left of the input beside the elements already
// announced (claimed). From an io.Reader, those bytes and the claimed ones are received
// first (the buffer grows only with what arrives), so that what is allocated for the
// elements, however deeply they nest in one another, is as from bytes
// (TestLengthsBoundedFromReader).
func (d *Decoder) fits(n int32, minSize int, what string) error {
	if n < 0 {
		return d.failf(ErrMalformed, "negative %s length %d", what, n)
	}
	if d.src.r != nil {
		total := int64(d.claimed) + int64(n)*int64(minSize)
		if total <= 0 {
			return nil
		}
		if total > d.src.max-d.src.offset() || total > math.MaxInt {
			return d.failf(ErrLimit, "%s length %d beyond MaxBytes", what, n)
		}
		switch err := d.src.need(int(total)); err {
		case nil:
		case ErrLimit:
			return d.failf(ErrLimit, "%s length %d beyond MaxBytes", what, n)
		case ErrTruncated:
			return d.failf(ErrTruncated, "%s length %d: the stream ends before its %d bytes beside %d announced",
				what, n, int64(n)*int64(minSize), d.claimed)
		default:
			return err
		}
		return nil
	}
	if rem := d.src.knownRemaining(); rem >= 0 && int64(n)*int64(minSize) > int64(rem-d.claimed) {
		if d.src.limited {
			return d.failf(ErrLimit, "%s length %d beyond MaxBytes", what, n)
		}
		return d.failf(ErrTruncated, "%s length %d, %d bytes left beside %d announced", what, n, rem, d.claimed)
	}
	return nil
}

// claim adds n bytes to those announced elements will take (claimed); the caller
// checked with fits that they are there, and unclaims them as it reads each element.
// After an error the decoder is done, claims and all.
func (d *Decoder) claim(n int) { d.claimed += n }

// unclaim gives back n bytes of a claim: the element that takes them is read next.
func (d *Decoder) unclaim(n int) { d.claimed -= n }

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
		if cd == nil { // Java's readClass fails on it (NullPointerException)
			return nil, d.fail(ErrMalformed, "TC_CLASS without a class descriptor")
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
// decoded string has its own memory (an empty or one-byte one too), so that the encoder
// can tell a back-reference (the same string) from an equal string.
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
	switch len(str) {
	case 0:
		str = unsafe.String(new(byte), 0)
	case 1: // string(b) of one byte points into the runtime's static table
		c := new(byte)
		*c = str[0]
		str = unsafe.String(c, 1)
	}
	var s any = str // boxed once, for the handle table and the caller
	if _, err := d.newHandle(s); err != nil {
		return nil, err
	}
	return s, nil
}

// typeString reads a field's type signature: TC_STRING, TC_LONGSTRING or a reference to
// a string, as Java's readTypeString does (which also takes TC_NULL: a field without a
// signature, refused here). No other element is read there, so no class descriptor or
// object nests in a field list (TestFieldListsBounded).
func (d *Decoder) typeString() (string, error) {
	tc, err := d.src.u8()
	if err != nil {
		return "", err
	}
	var v any
	switch tc {
	case tcString, tcLongString:
		v, err = d.newString(tc)
	case tcReference:
		v, err = d.reference()
	default:
		d.src.pos--
		return "", d.failf(ErrMalformed, "type code 0x%02x where a field type signature is expected", tc)
	}
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", d.failf(ErrMalformed, "field type signature is %T", v)
	}
	return s, nil
}
