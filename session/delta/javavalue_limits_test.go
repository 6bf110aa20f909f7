package delta

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// TestJavaValueCodecLimits: JavaValueCodec reads an attribute value's stream with its
// Limits, as JavaCodec reads a message with its own (Java's jdk.serialFilter applies to
// every stream a JVM reads): a value of 40 strings is refused with MaxHandles 16, an
// error wrapping ErrMalformedValue and jserial.ErrLimit, and decodes with the zero
// value's defaults and with limits it does not reach. Before, Unmarshal had no limits
// but jserial's defaults, whatever the cluster's.
func TestJavaValueCodecLimits(t *testing.T) {
	v := make([]any, 40)
	for i := range v {
		v[i] = fmt.Sprint("role", i)
	}
	data, err := JavaValueCodec{}.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []JavaValueCodec{{}, {Limits: jserial.DecoderConfig{MaxHandles: 64, MaxDepth: 4}}} {
		if got, err := c.Unmarshal(data); err != nil || len(got.([]any)) != 40 {
			t.Errorf("%+v: %v, %v", c.Limits, got, err)
		}
	}
	for _, l := range []jserial.DecoderConfig{{MaxHandles: 16}, {MaxDepth: 1}, {MaxBytes: int64(len(data)) - 1}} {
		_, err := JavaValueCodec{Limits: l}.Unmarshal(data)
		if !errors.Is(err, ErrMalformedValue) || !errors.Is(err, jserial.ErrLimit) {
			t.Errorf("%+v: %v, want ErrMalformedValue and jserial.ErrLimit", l, err)
		}
	}
}
