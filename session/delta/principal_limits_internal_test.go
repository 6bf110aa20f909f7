package delta

import (
	"fmt"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// TestPrincipalActionReadWithTheCodecsLimits: a Manager reads the Java stream of a
// principal action it applies with its cluster codec's limits (JavaCodec's Limits), as
// the codec reads every other stream. It read it with jserial's defaults, so a principal
// whose stream went past limits lowered in the codec (here MaxHandles, 16, and a
// principal of 40 roles) was taken all the same; it is refused now and counted
// (Stats.BadActions), and taken with the defaults and with BinaryCodec, which sets none.
func TestPrincipalActionReadWithTheCodecsLimits(t *testing.T) {
	p := &Principal{Name: "alice", Attributes: map[string]any{"mail": "alice@example.com"}}
	for i := range 40 {
		p.Roles = append(p.Roles, fmt.Sprint("role", i))
	}
	b, err := EncodePrincipal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		codec MessageCodec
		take  bool
	}{
		{"JavaCodec", JavaCodec{}, true},
		{"JavaCodec MaxHandles 16", JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 16}}, false},
		{"*JavaCodec MaxHandles 16", &JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 16}}, false},
		{"JavaCodec MaxBytes 1 KiB", JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 1 << 10}}, true},
		{"BinaryCodec", BinaryCodec{}, true},
	} {
		m := &Manager{cl: &Cluster{codec: c.codec}}
		s := &Session{m: m, id: "S", valid: true}
		s.apply([]Action{{Type: ActionPrincipal, Op: OpSet, Value: b}}, stamp{}, false, false)
		bad := m.stats.badActions.Load()
		if got := s.principal; c.take && (got == nil || len(got.Roles) != 40 || bad != 0) {
			t.Errorf("%s: the principal was not taken (%v, %d bad actions)", c.name, got, bad)
		} else if !c.take && (got != nil || bad != 1) {
			t.Errorf("%s: a principal of %d roles was taken past MaxHandles 16 (%d bad actions)", c.name, len(p.Roles), bad)
		}
	}
}
