package delta

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/gotribes/tribes/internal/gobcheck"
)

// ValueCodec encodes attribute values. Session.Set encodes the value at once, so a value
// that cannot be replicated is refused where it is set, not later when the request ends.
// The bytes are what travels to the other nodes and what a state transfer sends.
//
// Implementations must be safe for concurrent use and deterministic enough that decoding
// an encoding gives an equal value. Set decodes each encoding back at once and refuses a
// value whose decoding has another Go type.
type ValueCodec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte) (any, error)
}

// GobCodec is the default ValueCodec. Common simple types have a compact encoding of
// their own: string, []byte, bool, int, int64, uint64, float64 and time.Time (a tag byte
// and the value). Everything else goes through encoding/gob as an interface value, which
// means named types (structs, maps of your own types, ...) must be registered with
// gob.Register on every node, as gob requires for interface values. This package
// registers the common unnamed ones: map[string]any, []any, map[string]string,
// map[string]int, map[string]int64, map[string]bool, map[string]float64 and
// map[string][]string (gob itself knows the basic types and slices of them).
//
// Marshal refuses what gob would not carry faithfully: unregistered or unencodable types
// (functions, channels) and structs with unexported fields, which gob silently leaves
// out (unless the type encodes itself: GobEncoder, BinaryMarshaler, TextMarshaler).
// Decoded values have the dynamic type gob registered: a struct registered as T comes
// back as T, a registered *T as *T (Session.Set checks that).
//
// Unmarshal walks a gob stream before encoding/gob reads it, and refuses one that
// announces more elements than it holds (gob sizes a map for the count it reads, checked
// against nothing: 64 bytes could make the node allocate gigabytes) or that gob's encoder
// does not write.
type GobCodec struct{}

func init() {
	for _, v := range []any{map[string]any{}, []any{}, map[string]string{}, map[string]int{}, map[string]int64{},
		map[string]bool{}, map[string]float64{}, map[string][]string{}} {
		gob.Register(v)
	}
}

// maxCheckDepth bounds how deep unexportedField looks into a value.
const maxCheckDepth = 64

var selfEncoders = []reflect.Type{
	reflect.TypeFor[gob.GobEncoder](), reflect.TypeFor[encoding.BinaryMarshaler](), reflect.TypeFor[encoding.TextMarshaler](),
}

// encodesItself reports whether gob hands t (or *t) to its own encoder.
func encodesItself(t reflect.Type) bool {
	for _, e := range selfEncoders {
		if t.Implements(e) || t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(e) {
			return true
		}
	}
	return false
}

// unexportedField returns an error naming a struct field reachable from v that gob would
// leave out because it is unexported.
func unexportedField(v reflect.Value, depth int) error {
	if !v.IsValid() || depth > maxCheckDepth || encodesItself(v.Type()) {
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return unexportedField(v.Elem(), depth+1)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				return fmt.Errorf("%w: field %s of %s is unexported and would arrive empty on the other nodes "+
					"(export it, or implement encoding.BinaryMarshaler)", ErrValueNotReplicable, f.Name, t)
			}
			if err := unexportedField(v.Field(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if !mayHoldStruct(v.Type().Elem(), 0) {
			return nil
		}
		for i := range v.Len() {
			if err := unexportedField(v.Index(i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		if !mayHoldStruct(v.Type().Key(), 0) && !mayHoldStruct(v.Type().Elem(), 0) {
			return nil
		}
		for it := v.MapRange(); it.Next(); {
			if err := unexportedField(it.Key(), depth+1); err != nil {
				return err
			}
			if err := unexportedField(it.Value(), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// mayHoldStruct reports whether a value of type t can contain a struct (or an interface
// that might hold one), so that its elements need a look.
func mayHoldStruct(t reflect.Type, depth int) bool {
	if depth > maxCheckDepth {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayHoldStruct(t.Elem(), depth+1)
	case reflect.Map:
		return mayHoldStruct(t.Key(), depth+1) || mayHoldStruct(t.Elem(), depth+1)
	}
	return false
}

const (
	tagString  = 1
	tagBytes   = 2
	tagBool    = 3
	tagInt     = 4
	tagInt64   = 5
	tagUint64  = 6
	tagFloat64 = 7
	tagTime    = 8
	tagGob     = 0x7F
)

// Marshal encodes v.
func (GobCodec) Marshal(v any) ([]byte, error) {
	// tagged returns a slice holding tag, with room for n more bytes: one allocation.
	tagged := func(tag byte, n int) []byte { return append(make([]byte, 0, 1+n), tag) }
	switch x := v.(type) {
	case string:
		return append(tagged(tagString, len(x)), x...), nil
	case []byte:
		return append(tagged(tagBytes, len(x)), x...), nil
	case bool:
		if x {
			return []byte{tagBool, 1}, nil
		}
		return []byte{tagBool, 0}, nil
	case int:
		return binary.AppendVarint(tagged(tagInt, binary.MaxVarintLen64), int64(x)), nil
	case int64:
		return binary.AppendVarint(tagged(tagInt64, binary.MaxVarintLen64), x), nil
	case uint64:
		return binary.AppendUvarint(tagged(tagUint64, binary.MaxVarintLen64), x), nil
	case float64:
		return binary.BigEndian.AppendUint64(tagged(tagFloat64, 8), math.Float64bits(x)), nil
	case time.Time:
		b, err := x.MarshalBinary()
		if err != nil {
			return nil, err
		}
		return append([]byte{tagTime}, b...), nil
	}
	if err := unexportedField(reflect.ValueOf(v), 0); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteByte(tagGob)
	x := v // Encode(&v) would move v to the heap on every call, the cases above too
	if err := gob.NewEncoder(&buf).Encode(&x); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrMalformedValue is wrapped by the Unmarshal errors of GobCodec (bytes that are no
// value Marshal writes, or a gob stream that does not decode on this node) and
// JavaValueCodec.
var ErrMalformedValue = errors.New("delta: malformed attribute value")

// Unmarshal decodes Marshal's output. Its errors wrap ErrMalformedValue.
func (GobCodec) Unmarshal(data []byte) (any, error) {
	v, err := gobUnmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedValue, err)
	}
	return v, nil
}

func gobUnmarshal(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, errors.New("empty")
	}
	body := data[1:]
	switch data[0] {
	case tagString:
		return string(body), nil
	case tagBytes:
		return bytes.Clone(body), nil
	case tagBool:
		if len(body) != 1 || body[0] > 1 {
			return nil, errors.New("bad bool")
		}
		return body[0] == 1, nil
	case tagInt, tagInt64:
		v, n := binary.Varint(body)
		if n <= 0 || n != len(body) {
			return nil, errors.New("bad integer")
		}
		if data[0] == tagInt {
			if v != int64(int(v)) {
				return nil, errors.New("int out of range")
			}
			return int(v), nil
		}
		return v, nil
	case tagUint64:
		v, n := binary.Uvarint(body)
		if n <= 0 || n != len(body) {
			return nil, errors.New("bad integer")
		}
		return v, nil
	case tagFloat64:
		if len(body) != 8 {
			return nil, errors.New("bad float")
		}
		return math.Float64frombits(binary.BigEndian.Uint64(body)), nil
	case tagTime:
		var t time.Time
		if err := t.UnmarshalBinary(body); err != nil {
			return nil, err
		}
		return t, nil
	case tagGob:
		if err := gobcheck.Check(body); err != nil { // gob sizes maps by counts it does not check
			return nil, err
		}
		var v any
		if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&v); err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown tag %#x", data[0])
}

// ValueError reports an attribute value the ValueCodec could not encode (from Set or
// MarkDirty) or decode.
type ValueError struct {
	Name string // attribute name
	Type string // the value's Go type, e.g. "main.cart" (empty when decoding)
	Err  error  // the codec's error
}

// Error names the attribute and says whether encoding (with the value's type) or
// decoding failed, with the codec's error.
func (e *ValueError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("delta: attribute %q: cannot encode value of type %s: %v", e.Name, e.Type, e.Err)
	}
	return fmt.Sprintf("delta: attribute %q: cannot decode value: %v", e.Name, e.Err)
}

// Unwrap returns the codec's error, for errors.Is and errors.As.
func (e *ValueError) Unwrap() error { return e.Err }

// ErrValueNotReplicable is wrapped by the *ValueError Session.Set returns for a value that
// would not arrive as it is on the other nodes: a struct field gob leaves out, or a value
// that decodes to another type (a *T when gob registered T, or the other way round).
var ErrValueNotReplicable = errors.New("delta: value would not replicate faithfully")

// encodeValue encodes v for attribute name and checks that it decodes to the same Go
// type, so that every node reads back what this one stored.
func (m *Manager) encodeValue(name string, v any) ([]byte, error) {
	typ := func() string { return fmt.Sprintf("%T", v) }
	data, err := m.cfg.Codec.Marshal(v)
	if err != nil {
		return nil, &ValueError{Name: name, Type: typ(), Err: err}
	}
	if err := m.checkValueLimits(name, v, data); err != nil {
		return nil, err
	}
	if _, ok := m.cfg.Codec.(GobCodec); ok && len(data) > 0 && data[0] != tagGob {
		return data, nil // GobCodec's own encodings decode to the type they were made from
	}
	back, err := m.cfg.Codec.Unmarshal(data)
	if err != nil {
		return nil, &ValueError{Name: name, Type: typ(), Err: fmt.Errorf("%w: it does not decode: %w", ErrValueNotReplicable, err)}
	}
	if got := reflect.TypeOf(back); got != reflect.TypeOf(v) {
		return nil, &ValueError{Name: name, Type: typ(), Err: fmt.Errorf("%w: it reads back as %v on other nodes "+
			"(gob registers one of T and *T: register the one you store, on every node)", ErrValueNotReplicable, got)}
	}
	return data, nil
}
