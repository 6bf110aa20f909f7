package delta

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"time"
	"unsafe"

	"github.com/gotribes/tribes/jserial"
)

// JavaValueCodec is the ValueCodec for clusters with Tomcat nodes (use it with
// JavaCodec): an attribute value is a Java serialization stream of the object Tomcat
// stores. Go values map to Java classes both ways:
//
//	Go                        Java
//	string                    java.lang.String
//	int (32-bit range)        java.lang.Integer (delta.Attr[int] reads one)
//	int64, int16, int8        java.lang.Long, Short, Byte
//	float64, float32          java.lang.Double, Float
//	bool                      java.lang.Boolean
//	[]byte                    byte[]
//	time.Time                 java.util.Date (millisecond precision)
//	[]any                     java.util.ArrayList
//	map[string]any            java.util.HashMap with String keys (written in key order)
//	*jserial.Set              java.util.HashSet or LinkedHashSet
//	*jserial.Map              any other HashMap, LinkedHashMap or TreeMap
//
// Elements of lists, sets and maps map the same way. Any other Java object (a class of
// the web application, an enum, ...) decodes as the jserial value (*jserial.Object, ...)
// and is written back byte for byte, so a Go node replicates what it cannot read. A Go
// value with no Java form (uint, structs, other maps, ...) is refused by Session.Set
// with a *ValueError wrapping ErrNoJavaForm.
type JavaValueCodec struct {
	// Limits bound the streams Unmarshal reads (depth, handles, lengths, size: Java's
	// jdk.serialFilter maxdepth, maxrefs, maxarray and maxbytes). In a Manager's Config,
	// zero fields take its cluster codec's Limits (JavaCodec's or BinaryCodec's), as a
	// JVM's jdk.serialFilter bounds every stream it reads
	// (TestJavaValueCodecTakesTheClustersLimits); zero fields left take jserial's
	// defaults (TestJavaValueCodecLimits).
	Limits jserial.DecoderConfig
}

// ErrNoJavaForm is wrapped by the error JavaValueCodec returns for a Go value that has no
// Java counterpart.
var ErrNoJavaForm = errors.New("delta: value has no Java form")

// maxValueDepth bounds the nesting of lists, sets and maps JavaValueCodec converts.
const maxValueDepth = 64

// Marshal returns the Java serialization stream of v.
func (JavaValueCodec) Marshal(v any) ([]byte, error) {
	j, err := toJava(v, 0)
	if err != nil {
		return nil, err
	}
	return jserial.Marshal(j)
}

// Unmarshal decodes a Java serialization stream to its Go form, within Limits. Its
// errors wrap ErrMalformedValue (and jserial's *DecodeError for a stream jserial
// refuses, wrapping jserial.ErrLimit for one beyond Limits).
func (c JavaValueCodec) Unmarshal(data []byte) (any, error) {
	v, err := jserial.UnmarshalConfig(data, c.Limits)
	if err == nil {
		v, err = fromJava(v, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedValue, err)
	}
	return v, nil
}

// javaConv converts values between their Java and Go forms, each list, set and map once:
// a stream may hold one object at many places (a back-reference takes 5 bytes), and
// converting it anew at each would let a small stream, lists holding the same list twice
// nested in one another, expand exponentially. The converted value shares what the
// original shared.
type javaConv struct{ done map[any]any }

// sliceKey identifies a non-empty []any by its elements.
type sliceKey struct {
	p *any
	n int
}

// mapKey identifies a Go map.
type mapKey struct{ p unsafe.Pointer }

// convKey is the key under which v's conversion is kept: a non-empty list or map, a set;
// nil for the rest (converted where met: strings and numbers are leaves, other objects
// are kept as they are).
func convKey(v any) any {
	switch x := v.(type) {
	case []any:
		if len(x) > 0 {
			return sliceKey{unsafe.SliceData(x), len(x)}
		}
	case map[string]any:
		if len(x) > 0 {
			return mapKey{reflect.ValueOf(x).UnsafePointer()}
		}
	case *jserial.Set, *jserial.Map:
		return x
	}
	return nil
}

// once returns convert(v, depth), computed once per list, set or map (convKey). A
// javaConv is for one direction: its memory does not tell a conversion to Java from one
// from Java.
func (c *javaConv) once(v any, depth int, convert func(any, int) (any, error)) (any, error) {
	k := convKey(v)
	if k != nil {
		if out, ok := c.done[k]; ok {
			return out, nil
		}
	}
	out, err := convert(v, depth)
	if err == nil && k != nil {
		if c.done == nil {
			c.done = map[any]any{}
		}
		c.done[k] = out
	}
	return out, err
}

func toJava(v any, depth int) (any, error) {
	var c javaConv
	return c.toJava(v, depth)
}

func fromJava(v any, depth int) (any, error) {
	var c javaConv
	return c.fromJava(v, depth)
}

func (c *javaConv) toJava(v any, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrNoJavaForm, maxValueDepth)
	}
	return c.once(v, depth, c.toJavaOnce)
}

func (c *javaConv) toJavaOnce(v any, depth int) (any, error) {
	switch x := v.(type) {
	case nil, string, int64, int16, int8, float64, float32, bool, []byte, time.Time,
		int32, []int16, []int32, []int64, []bool, []float32, []float64, []jserial.Char, jserial.LinkedList,
		*jserial.Object, *jserial.Enum, *jserial.Array, *jserial.BigDecimal, *big.Int, jserial.UUID, jserial.Char:
		return v, nil
	case int:
		if x < math.MinInt32 || x > math.MaxInt32 {
			return nil, fmt.Errorf("%w: int %d is outside java.lang.Integer's range (use int64 for a Long)", ErrNoJavaForm, x)
		}
		return int32(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = c.toJava(e, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		m := &jserial.Map{Class: jserial.HashMap, Entries: make([]jserial.Entry, len(keys))}
		for i, k := range keys {
			e, err := c.toJava(x[k], depth+1)
			if err != nil {
				return nil, err
			}
			m.Entries[i] = jserial.Entry{Key: k, Value: e}
		}
		return m, nil
	case *jserial.Set:
		s := *x
		s.Elems = make([]any, len(x.Elems))
		for i, e := range x.Elems {
			var err error
			if s.Elems[i], err = c.toJava(e, depth+1); err != nil {
				return nil, err
			}
		}
		return &s, nil
	case *jserial.Map:
		m := *x
		m.Entries = make([]jserial.Entry, len(x.Entries))
		for i, e := range x.Entries {
			k, err := c.toJava(e.Key, depth+1)
			if err != nil {
				return nil, err
			}
			val, err := c.toJava(e.Value, depth+1)
			if err != nil {
				return nil, err
			}
			m.Entries[i] = jserial.Entry{Key: k, Value: val}
		}
		return &m, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrNoJavaForm, v)
}

func (c *javaConv) fromJava(v any, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("Java value nested deeper than %d", maxValueDepth)
	}
	return c.once(v, depth, c.fromJavaOnce)
}

func (c *javaConv) fromJavaOnce(v any, depth int) (any, error) {
	switch x := v.(type) {
	case int32:
		return int(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = c.fromJava(e, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *jserial.Set:
		s := *x
		s.Elems = make([]any, len(x.Elems))
		for i, e := range x.Elems {
			var err error
			if s.Elems[i], err = c.fromJava(e, depth+1); err != nil {
				return nil, err
			}
		}
		return &s, nil
	case *jserial.Map:
		entries := make([]jserial.Entry, len(x.Entries))
		byString := x.Class == jserial.HashMap
		for i, e := range x.Entries {
			k, err := c.fromJava(e.Key, depth+1)
			if err != nil {
				return nil, err
			}
			val, err := c.fromJava(e.Value, depth+1)
			if err != nil {
				return nil, err
			}
			entries[i] = jserial.Entry{Key: k, Value: val}
			if _, ok := k.(string); !ok {
				byString = false
			}
		}
		if byString {
			out := make(map[string]any, len(entries))
			for _, e := range entries {
				out[e.Key.(string)] = e.Value
			}
			return out, nil
		}
		m := *x
		m.Entries = entries
		return &m, nil
	}
	return v, nil
}

// valueLimits returns v, the value codec of a Manager of c: a JavaValueCodec's zero
// Limits fields take those the cluster's codec reads Java streams with (javaLimits), so
// that the limits a user sets on the cluster bound attribute values too, as a JVM's
// jdk.serialFilter bounds every stream it reads. A *JavaValueCodec becomes a
// JavaValueCodec (the user's is not modified); another codec is v.
func (c *Cluster) valueLimits(v ValueCodec) ValueCodec {
	var jv JavaValueCodec
	switch x := v.(type) {
	case JavaValueCodec:
		jv = x
	case *JavaValueCodec:
		if x == nil {
			return v
		}
		jv = *x
	default:
		return v
	}
	l, cl := &jv.Limits, c.javaLimits()
	l.MaxDepth = cmp.Or(l.MaxDepth, cl.MaxDepth)
	l.MaxHandles = cmp.Or(l.MaxHandles, cl.MaxHandles)
	l.MaxArrayLen = cmp.Or(l.MaxArrayLen, cl.MaxArrayLen)
	l.MaxBytes = cmp.Or(l.MaxBytes, cl.MaxBytes)
	return jv
}
