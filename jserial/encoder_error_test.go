package jserial

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// An Encode that fails (here on a Go int inside a list, ErrType) writes nothing, and the
// Encoder forgets the handles it assigned to what it had encoded before the failure (the
// ArrayList's descriptor, the list, the string). Before, they stayed in its table and
// counter: every later handle was off by three from the stream's real numbering, and a
// later back-reference named another object (here "d" where "a" was written again).
// After an error the Encoder must either forget what the failed call assigned or keep
// failing.
func TestEncoderAfterError(t *testing.T) {
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode([]any{"x", 5}); !errors.Is(err, ErrType) {
		t.Fatalf("Encode of a Go int: %v, want ErrType", err)
	}
	a := strings.Clone("a")
	want := []any{a, "b", "c", "d", "e", a} // the last is a back-reference to the first
	for _, v := range want {
		if err := enc.Encode(v); err != nil {
			return // a sticky error is a valid answer
		}
	}
	got, err := UnmarshalAll(buf.Bytes(), DecoderConfig{})
	if err != nil {
		t.Fatalf("stream written after a failed Encode does not decode: %v\n% x", err, buf.Bytes())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stream written after a failed Encode decodes to %q, want %q", got, want)
	}
}
