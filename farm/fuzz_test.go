package farm_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/jserial"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// FuzzDecodeMessage: decoding never panics and fails with ErrMalformed or one of
// jserial's errors; what decodes encodes and decodes to the same message.
func FuzzDecodeMessage(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	limits := jserial.DecoderConfig{MaxBytes: 1 << 20, MaxArrayLen: 1 << 16, MaxDepth: 8, MaxHandles: 64}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := farm.DecodeMessage(b, limits)
		if err != nil {
			var de *jserial.DecodeError
			if !errors.Is(err, farm.ErrMalformed) && !errors.As(err, &de) && !errors.Is(err, jserial.ErrLimit) {
				t.Fatalf("error %v (%T) is neither ErrMalformed nor jserial's", err, err)
			}
			return
		}
		out, err := farm.AppendMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := farm.DecodeMessage(out, limits)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip:\n%+v\n%+v", m, again)
		}
	})
}
