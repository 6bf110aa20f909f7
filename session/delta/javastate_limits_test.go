package delta_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestEncodeDeltaRequestPastMaxEntries: EncodeDeltaRequest wrote a DeltaRequest of more
// actions than MaxEntries, which DecodeDeltaRequest with the same codec refuses: a
// session/backup diff its backup would refuse could go out. It refuses such a request
// with an error wrapping ErrMessageLimit; one of MaxEntries actions encodes and decodes.
func TestEncodeDeltaRequestPastMaxEntries(t *testing.T) {
	c := delta.JavaCodec{MaxEntries: 2}
	actions := func(n int) []delta.Action {
		var as []delta.Action
		for i := range n {
			as = append(as, delta.Action{Type: delta.ActionAttribute, Op: delta.OpRemove, Name: fmt.Sprint("k", i)})
		}
		return as
	}
	if b, err := c.EncodeDeltaRequest("S", actions(3)); !errors.Is(err, delta.ErrMessageLimit) {
		t.Errorf("EncodeDeltaRequest of 3 actions under MaxEntries 2: %d bytes, %v; want an error wrapping ErrMessageLimit", len(b), err)
	}
	b, err := c.EncodeDeltaRequest("S", actions(2))
	if err != nil {
		t.Fatalf("EncodeDeltaRequest of 2 actions: %v", err)
	}
	if id, as, err := c.DecodeDeltaRequest(b); err != nil || id != "S" || len(as) != 2 {
		t.Errorf("DecodeDeltaRequest: %q, %d actions, %v; want S, 2", id, len(as), err)
	}
	// What the check prevents: the decoder refuses 3 actions.
	b, err = delta.JavaCodec{}.EncodeDeltaRequest("S", actions(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.DecodeDeltaRequest(b); err == nil {
		t.Errorf("DecodeDeltaRequest of 3 actions under MaxEntries 2: nil, want an error")
	}
}
