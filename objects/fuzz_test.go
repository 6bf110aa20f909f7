package objects_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/objects"
)

// FuzzDecode: whatever a peer sends as an object message decodes or fails with a
// *jserial.DecodeError, never a panic; a decoded value that marshals again decodes again.
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := objects.Decode(&channel.Message{Data: b})
		if err != nil {
			if de := (*jserial.DecodeError)(nil); !errors.As(err, &de) {
				t.Fatalf("%v is no *jserial.DecodeError", err)
			}
			return
		}
		again, err := objects.Marshal(v)
		if err != nil {
			return // a decoded form jserial cannot write (a class without its descriptor's data)
		}
		if _, err := objects.Decode(&channel.Message{Data: again}); err != nil {
			t.Fatalf("a decoded %T marshals to bytes that do not decode: %v", v, err)
		}
	})
}
