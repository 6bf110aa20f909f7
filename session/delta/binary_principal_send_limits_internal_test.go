package delta

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestBinaryCodecRefusesPrincipalPastLimitsOnSend: BinaryCodec refuses to encode a
// delta whose principal action has a name or a role longer than MaxStringLen, or more
// roles than MaxEntries (an error wrapping ErrMessageLimit), since a peer with the same
// codec drops that action (TestBinaryCodecPrincipalActionStringsWithinLimits); within
// them the message encodes and the peer takes the principal. Before, the sender sent
// it, every peer dropped it, and the principal existed on the sending node only.
func TestBinaryCodecRefusesPrincipalPastLimitsOnSend(t *testing.T) {
	roles := func(n, size int) []string {
		var r []string
		for i := range n {
			r = append(r, fmt.Sprintf("%0*d", size, i))
		}
		return r
	}
	low := BinaryCodec{MaxStringLen: 64, MaxEntries: 8}
	for _, c := range []struct {
		name  string
		p     *Principal
		codec MessageCodec
		send  bool
	}{
		{"a 100-byte name, defaults", &Principal{Name: strings.Repeat("n", 100)}, BinaryCodec{}, true},
		{"a 100-byte name, MaxStringLen 64", &Principal{Name: strings.Repeat("n", 100)}, low, false},
		{"a 100-byte name, *BinaryCodec", &Principal{Name: strings.Repeat("n", 100)}, &low, false},
		{"a 100-byte role, MaxStringLen 64", &Principal{Name: "alice", Roles: roles(1, 100)}, low, false},
		{"40 roles, MaxEntries 8", &Principal{Name: "alice", Roles: roles(40, 4)}, low, false},
		{"40 roles and a Java form, MaxEntries 8", &Principal{Name: "alice", Roles: roles(40, 4),
			Attributes: map[string]any{"mail": "alice@example.com"}}, low, false},
		{"a 64-byte name and 8 roles of 64 bytes, the limits", &Principal{Name: strings.Repeat("n", 64),
			Roles: roles(8, 64)}, low, true},
	} {
		value, err := EncodePrincipal(c.p)
		if err != nil {
			t.Fatal(err)
		}
		m := &Message{Event: EventDelta, Context: "c", SessionID: "S",
			Actions: []Action{{Type: ActionPrincipal, Op: OpSet, Name: namePrincipal, Value: value}}}
		b, err := c.codec.AppendMessage(nil, m)
		if !c.send {
			if !errors.Is(err, ErrMessageLimit) {
				t.Errorf("%s: AppendMessage: %v, want an error wrapping ErrMessageLimit", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: AppendMessage: %v", c.name, err)
		}
		// A peer with the same codec takes what was sent.
		got, err := c.codec.DecodeMessage(b)
		if err != nil {
			t.Fatalf("%s: DecodeMessage: %v", c.name, err)
		}
		mgr := &Manager{cl: &Cluster{codec: c.codec}}
		s := &Session{m: mgr, id: "S", valid: true}
		s.apply(got.Actions, stamp{}, false, false)
		if s.principal == nil || mgr.stats.badActions.Load() != 0 {
			t.Errorf("%s: the peer did not take the principal sent", c.name)
		}
	}
}
