package delta

import (
	"fmt"
	"strings"
	"testing"
)

// TestBinaryCodecPrincipalActionStringsWithinLimits: a principal action the Manager
// applies is read with the cluster's BinaryCodec's MaxStringLen and MaxEntries, as the
// principal of a session of a state transfer is: a name or a role longer than
// MaxStringLen, or more roles than MaxEntries, drops the action (counted in
// Stats.BadActions), and within them it is taken. Before, the action's name and roles
// were read with the defaults (16 KiB, 1<<20) whatever the codec said, so that a node
// whose codec took 64-byte strings and 8 entries took a principal of a 100-byte name or
// of 40 roles from a principal action, and refused the same principal in a transfer.
func TestBinaryCodecPrincipalActionStringsWithinLimits(t *testing.T) {
	roles := func(n, size int) []string {
		var r []string
		for i := range n {
			r = append(r, fmt.Sprintf("%0*d", size, i))
		}
		return r
	}
	long := strings.Repeat("n", 100)
	low := BinaryCodec{MaxStringLen: 64, MaxEntries: 8}
	for _, c := range []struct {
		name  string
		p     *Principal
		codec MessageCodec
		take  bool
	}{
		{"a 100-byte name, defaults", &Principal{Name: long}, BinaryCodec{}, true},
		{"a 100-byte name, MaxStringLen 64", &Principal{Name: long}, low, false},
		{"a 100-byte name, *BinaryCodec MaxStringLen 64", &Principal{Name: long}, &low, false},
		{"a 100-byte role, MaxStringLen 64", &Principal{Name: "alice", Roles: roles(1, 100)}, low, false},
		{"40 roles, defaults", &Principal{Name: "alice", Roles: roles(40, 4)}, BinaryCodec{}, true},
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
		// The same principal in a state transfer, which the codec reads with its limits.
		transfer, err := BinaryCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: "c",
			SessionID: idSessionState, Total: 1, Sessions: []SessionState{{ID: "S", Principal: c.p}}})
		if err != nil {
			t.Fatal(err)
		}
		// Past the limits, the transfer is refused whole (a count past MaxEntries) or
		// the session left out of it (a string past MaxStringLen).
		got, err := c.codec.DecodeMessage(transfer)
		if taken := err == nil && len(got.Sessions) == 1; taken != c.take {
			t.Fatalf("%s: the transfer's principal: %v, want taken %v", c.name, err, c.take)
		}

		m := &Manager{cl: &Cluster{codec: c.codec}}
		s := &Session{m: m, id: "S", valid: true}
		s.apply([]Action{{Type: ActionPrincipal, Op: OpSet, Value: value}}, stamp{}, false, false)
		bad := m.stats.badActions.Load()
		if c.take && (s.principal == nil || bad != 0) {
			t.Errorf("%s: the action's principal was not taken (%d bad actions)", c.name, bad)
		} else if !c.take && (s.principal != nil || bad != 1) {
			t.Errorf("%s: the action's principal was taken past the codec's limits (%d bad actions)", c.name, bad)
		}
	}
}
