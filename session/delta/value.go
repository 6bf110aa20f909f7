package delta

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"time"
)

// ValueCodec encodes attribute values. Session.Set encodes the value at once, so a value
// that cannot be replicated is refused where it is set, not later when the request ends.
// The bytes are what travels to the other nodes and what a state transfer sends.
//
// Implementations must be safe for concurrent use and deterministic enough that decoding
// an encoding gives an equal value.
type ValueCodec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte) (any, error)
}

// GobCodec is the default ValueCodec. Common simple types have a compact encoding of
// their own: string, []byte, bool, int, int64, uint64, float64 and time.Time (a tag byte
// and the value). Everything else goes through encoding/gob as an interface value, which
// means named types (structs, maps of your own types, ...) must be registered with
// gob.Register on every node, as gob requires for interface values; an unregistered or
// unencodable type (functions, channels) is refused by Session.Set.
//
// Decoded values have the same dynamic type as the encoded ones (int stays int, a struct
// registered as T comes back as T, a registered *T as *T).
type GobCodec struct{}

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
	switch x := v.(type) {
	case string:
		return append([]byte{tagString}, x...), nil
	case []byte:
		return append([]byte{tagBytes}, x...), nil
	case bool:
		if x {
			return []byte{tagBool, 1}, nil
		}
		return []byte{tagBool, 0}, nil
	case int:
		return binary.AppendVarint([]byte{tagInt}, int64(x)), nil
	case int64:
		return binary.AppendVarint([]byte{tagInt64}, x), nil
	case uint64:
		return binary.AppendUvarint([]byte{tagUint64}, x), nil
	case float64:
		return binary.BigEndian.AppendUint64([]byte{tagFloat64}, math.Float64bits(x)), nil
	case time.Time:
		b, err := x.MarshalBinary()
		if err != nil {
			return nil, err
		}
		return append([]byte{tagTime}, b...), nil
	}
	var buf bytes.Buffer
	buf.WriteByte(tagGob)
	if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes Marshal's output.
func (GobCodec) Unmarshal(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, errors.New("delta: empty value")
	}
	body := data[1:]
	switch data[0] {
	case tagString:
		return string(body), nil
	case tagBytes:
		return bytes.Clone(body), nil
	case tagBool:
		if len(body) != 1 || body[0] > 1 {
			return nil, errors.New("delta: bad bool value")
		}
		return body[0] == 1, nil
	case tagInt, tagInt64:
		v, n := binary.Varint(body)
		if n <= 0 || n != len(body) {
			return nil, errors.New("delta: bad integer value")
		}
		if data[0] == tagInt {
			if v != int64(int(v)) {
				return nil, errors.New("delta: int value out of range")
			}
			return int(v), nil
		}
		return v, nil
	case tagUint64:
		v, n := binary.Uvarint(body)
		if n <= 0 || n != len(body) {
			return nil, errors.New("delta: bad integer value")
		}
		return v, nil
	case tagFloat64:
		if len(body) != 8 {
			return nil, errors.New("delta: bad float value")
		}
		return math.Float64frombits(binary.BigEndian.Uint64(body)), nil
	case tagTime:
		var t time.Time
		if err := t.UnmarshalBinary(body); err != nil {
			return nil, err
		}
		return t, nil
	case tagGob:
		var v any
		if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&v); err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("delta: unknown value tag %#x", data[0])
}

// ValueError reports an attribute value the ValueCodec could not encode (from Set or
// MarkDirty) or decode.
type ValueError struct {
	Name string // attribute name
	Type string // the value's Go type, e.g. "main.cart" (empty when decoding)
	Err  error  // the codec's error
}

func (e *ValueError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("delta: attribute %q: cannot encode value of type %s: %v", e.Name, e.Type, e.Err)
	}
	return fmt.Sprintf("delta: attribute %q: cannot decode value: %v", e.Name, e.Err)
}

func (e *ValueError) Unwrap() error { return e.Err }
