package delta

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// JavaValueCodec.Unmarshal refuses what it cannot read with errors wrapping
// ErrMalformedValue, as GobCodec does: a Java stream of lists nested deeper than
// maxValueDepth (which jserial's own depth limit, 1 000, lets through) failed with a bare
// string, a malformed stream with jserial's *DecodeError alone.
func TestJavaValueCodecUnmarshalErrorsTyped(t *testing.T) {
	var v any = "leaf"
	for range maxValueDepth + 2 {
		v = []any{v}
	}
	deep, err := jserial.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (JavaValueCodec{}).Unmarshal(deep); !errors.Is(err, ErrMalformedValue) {
		t.Errorf("lists nested %d deep: %v, want ErrMalformedValue", maxValueDepth+2, err)
	}
	var de *jserial.DecodeError
	if _, err := (JavaValueCodec{}).Unmarshal([]byte{0xac, 0xed, 0, 5, 0x99}); !errors.Is(err, ErrMalformedValue) || !errors.As(err, &de) {
		t.Errorf("a malformed stream: %v, want ErrMalformedValue and a *jserial.DecodeError", err)
	}
	ok, err := jserial.Marshal([]any{"a", int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := (JavaValueCodec{}).Unmarshal(ok); err != nil {
		t.Errorf("a list: %v, %v", got, err)
	}
}

// FuzzJavaValueCodecUnmarshal: attribute values from Tomcat nodes decode or fail with
// ErrMalformedValue, never a panic; what decodes and has a Java form decodes again.
func FuzzJavaValueCodecUnmarshal(f *testing.F) {
	for _, v := range []any{"s", int32(7), []any{"a", int64(2), true}, &jserial.Map{Entries: []jserial.Entry{{Key: "k", Value: "v"}}}} {
		b, err := jserial.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := JavaValueCodec{}.Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedValue) {
				t.Fatalf("%v does not wrap ErrMalformedValue", err)
			}
			return
		}
		again, err := JavaValueCodec{}.Marshal(v)
		if err != nil {
			return // a decoded form with no Java form of its own (ErrNoJavaForm)
		}
		if _, err := (JavaValueCodec{}).Unmarshal(again); err != nil {
			t.Fatalf("a decoded %T marshals to bytes that do not decode: %v", v, err)
		}
	})
}
