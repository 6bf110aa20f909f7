package delta

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/gobcheck"
	"github.com/gotribes/tribes/internal/testutil"
)

type gobInner struct {
	Name string
	At   time.Time
	N    *big.Int
	Tags map[string][]int
}

type gobOuter struct {
	ID     int64
	Inner  gobInner
	Ptr    *gobInner
	List   []gobInner
	Arr    [3]uint16
	Raw    [4]byte
	Bytes  []byte
	Any    any
	Anys   []any
	ByInt  map[int]gobInner
	Next   *gobOuter
	Empty  struct{}
	F      float64
	C      complex128
	Ok     bool
	U      uint8
	Nested map[string]map[string]any
}

type gobNamedBytes []byte

// GobEmbedded is exported so that gob carries it embedded.
type GobEmbedded struct{ A []int }

type gobEmbed struct {
	GobEmbedded
	Extra string
}

func init() {
	for _, v := range []any{gobInner{}, gobOuter{}, gobNamedBytes{}, gobEmbed{}, map[int]string{}, [2]string{}} {
		gob.Register(v)
	}
}

// The walk before gob's decoder follows every stream gob's encoder writes for GobCodec:
// structs nested, recursive and embedded, pointers, arrays, byte arrays, maps with other
// keys, types that encode themselves (time.Time, *big.Int), interface values holding
// registered types whose definitions come inside the value, empty structs, zero values.
func TestGobWalkFollowsTheEncoder(t *testing.T) {
	inner := gobInner{Name: "i", At: time.Date(2026, 12, 5, 1, 2, 3, 4, time.UTC), N: big.NewInt(-12345),
		Tags: map[string][]int{"a": {1, 2}, "b": nil}}
	outer := gobOuter{ID: -7, Inner: inner, Ptr: &inner, List: []gobInner{inner, {}}, Arr: [3]uint16{1, 0, 65535},
		Raw: [4]byte{9, 8, 7, 6}, Bytes: []byte("x"), Any: gobEmbed{GobEmbedded: GobEmbedded{A: []int{4}}, Extra: "e"},
		Anys:  []any{1, "s", map[string]any{"deep": []any{gobNamedBytes("n"), map[int]string{3: "c"}}}, [2]string{"p", "q"}, nil},
		ByInt: map[int]gobInner{1: inner}, Next: &gobOuter{ID: 2, Any: gobOuter{ID: 3}}, F: 1.5, C: complex(1, -2), Ok: true,
		U: 200, Nested: map[string]map[string]any{"m": {"k": []any{gobInner{Name: "z"}}}}}
	for _, v := range []any{outer, gobOuter{}, inner, gobInner{}, gobEmbed{Extra: "x"}, gobNamedBytes("b"),
		map[string]any{}, map[string]any{"a": map[string]any{"b": []any{"c"}}}, []any{[]any{[]any{1}}},
		map[int]string{1: "a", 2: "b"}, [2]string{}, map[string][]string{"h": {"1"}}, []string{"a", ""}, int32(-1), 'r', uint(7), float32(0.5)} {
		b, err := GobCodec{}.Marshal(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if b[0] == tagGob {
			if err := gobcheck.Check(b[1:]); err != nil {
				t.Fatalf("%T: the walk refused gob's encoding: %v\n% x", v, err, b[1:])
			}
		}
		got, err := GobCodec{}.Unmarshal(b)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%T: got %#v", v, got)
		}
	}
}

// gobMapValue is GobCodec's encoding of map[string]any{"a": "b"} with the map's count
// replaced by n (it holds one entry).
func gobMapValue(t *testing.T, n uint64) []byte {
	t.Helper()
	good, err := GobCodec{}.Marshal(map[string]any{"a": "b"})
	if err != nil {
		t.Fatal(err)
	}
	// The value message: its length, the type id, the byte count, the singleton's zero
	// delta, then the count (1) and "a".
	i := bytes.Index(good, []byte{0x00, 0x01, 0x01, 'a'})
	if i < 3 {
		t.Fatalf("unexpected layout % x", good)
	}
	var cnt []byte
	if n < 0x80 {
		cnt = []byte{byte(n)}
	} else {
		be := binary.BigEndian.AppendUint64(nil, n)
		for be[0] == 0 {
			be = be[1:]
		}
		cnt = append([]byte{byte(-len(be))}, be...)
	}
	out := append(bytes.Clone(good[:i+1]), cnt...)
	out = append(out, good[i+2:]...)
	grow := byte(len(cnt) - 1)
	out[i-1] += grow // the value's byte count
	// The message's length is the byte before its type id (ff 80 or one byte).
	j := bytes.LastIndex(out[:i-1], []byte{0xff})
	out[j-1] += grow
	return out
}

// A map count beyond what the value holds is refused before gob sizes a map for it: 2^22
// made gob allocate 336 MB for these 64 bytes, 2^31 killed the process.
func TestGobMapCountBounded(t *testing.T) {
	if v, err := (GobCodec{}).Unmarshal(gobMapValue(t, 1)); err != nil || !reflect.DeepEqual(v, map[string]any{"a": "b"}) {
		t.Fatalf("the value rewritten with its own count: %v, %v", v, err)
	}
	if _, err := (GobCodec{}).Unmarshal(gobMapValue(t, 2)); err == nil {
		t.Error("a map of one entry announcing 2 decoded")
	}
	for _, n := range []uint64{1 << 22, 1 << 31, 1<<64 - 1} {
		in := gobMapValue(t, n)
		var err error
		got := testutil.Allocated(func() { _, err = GobCodec{}.Unmarshal(in) })
		if !errors.Is(err, gobcheck.ErrCount) {
			t.Errorf("count %d: %v, want gobcheck.ErrCount", n, err)
		}
		if got > 1<<20 {
			t.Errorf("count %d: %d bytes allocated for %d bytes", n, got, len(in))
		}
	}
}

// An interface value whose concrete type is the interface type again, nested, stops at
// the walk's depth bound instead of recursing as deep as the input allows.
func TestGobWalkDepthBounded(t *testing.T) {
	// A message: its length, type id 8 (interface), the singleton's zero delta, then n
	// times: the name "x", concrete type id 8, a byte count, the zero delta.
	var body []byte
	for range 100000 {
		body = append(body, 1, 'x', 0x10, 0x00, 0x00)
	}
	msg := append([]byte{0x10, 0x00}, body...)
	n := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	in := append(append([]byte{0xfc}, n...), msg...)
	if err := gobcheck.Check(in); !errors.Is(err, gobcheck.ErrCount) {
		t.Fatalf("100 000 nested interfaces: %v, want the depth bound", err)
	}
}
