package delta

import (
	"errors"
	"reflect"
	"testing"
)

// GobCodec.Unmarshal refuses what no Marshal wrote with errors wrapping
// ErrMalformedValue; they were bare strings, or gob's own, for no errors.Is.
func TestGobCodecUnmarshalErrorsTyped(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":           {},
		"unknown tag":     {0xfe},
		"bool of 2 bytes": {tagBool, 1, 1},
		"bool of 2":       {tagBool, 2},
		"cut integer":     {tagInt64, 0x80},
		"cut uint":        {tagUint64},
		"short float":     {tagFloat64, 1, 2, 3},
		"bad time":        {tagTime, 9},
		"bad gob":         {tagGob, 3, 4, 5},
	} {
		if v, err := (GobCodec{}).Unmarshal(b); !errors.Is(err, ErrMalformedValue) {
			t.Errorf("%s (%x): %v, %v, want ErrMalformedValue", name, b, v, err)
		}
	}
}

// FuzzGobCodecUnmarshal: attribute values from other nodes never panic the decoder, and
// whatever decodes encodes again to a value of the same type.
func FuzzGobCodecUnmarshal(f *testing.F) {
	for _, v := range []any{"s", []byte{1}, true, 42, int64(-1), uint64(7), 1.5, map[string]any{"k": []any{1, "x"}}, []string{"a"},
		gobOuter{ID: 1, List: []gobInner{{Name: "n"}}, Any: gobEmbed{Extra: "e"}, ByInt: map[int]gobInner{2: {}}, Next: &gobOuter{}}} {
		b, _ := GobCodec{}.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := GobCodec{}.Unmarshal(data)
		if err != nil && !errors.Is(err, ErrMalformedValue) {
			t.Fatalf("%v does not wrap ErrMalformedValue", err)
		}
		if err != nil || v == nil {
			return
		}
		b, err := GobCodec{}.Marshal(v)
		if err != nil {
			return // a registered type Marshal refuses (one with unexported fields) can be decoded
		}
		back, err := GobCodec{}.Unmarshal(b)
		if err != nil {
			t.Fatalf("decoding a re-encoded %T: %v", v, err)
		}
		if reflect.TypeOf(back) != reflect.TypeOf(v) {
			t.Fatalf("%T came back as %T", v, back)
		}
	})
}
