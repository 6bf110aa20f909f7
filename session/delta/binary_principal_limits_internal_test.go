package delta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// deepPrincipal returns the principal value (EncodePrincipal's form) and the state
// transfer message (BinaryCodec's) of a principal whose user principal is a chain of n
// objects, each holding the next: its Java stream nests deeper than n, which
// jserial's encoder writes only with its MaxDepth raised.
func deepPrincipal(t *testing.T, n int) (value, transfer []byte) {
	t.Helper()
	desc := &jserial.ClassDesc{Name: "example.Link", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'L', Name: "next", Signature: "Ljava/lang/Object;"}}}
	var next any
	for range n {
		next = &jserial.Object{Class: desc, Slots: []jserial.Slot{{Class: desc, Values: []any{next}}}}
	}
	o, err := principalObject(&Principal{Name: "deep", Roles: []string{"r"}, User: next.(*jserial.Object)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	enc, err := jserial.NewEncoder(&stream, jserial.EncoderConfig{MaxDepth: 4 * n})
	if err == nil {
		err = enc.Encode(o)
	}
	if err != nil {
		t.Fatal(err)
	}
	value = appendString(binary.AppendUvarint(appendString(nil, "deep"), 1), "r")
	value = append(value, stream.Bytes()...)

	// The transfer of a principal of the same name and roles with a small Java form,
	// which is then replaced with the deep one.
	small := &Principal{Name: "deep", Roles: []string{"r"}, Attributes: map[string]any{"a": "b"}}
	transfer, err = BinaryCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: "c",
		SessionID: idSessionState, Total: 1, Sessions: []SessionState{{ID: "S", Principal: small}}})
	if err != nil {
		t.Fatal(err)
	}
	form, err := appendPrincipalJava(nil, small)
	if err != nil {
		t.Fatal(err)
	}
	form = append(binary.AppendUvarint(nil, uint64(len(form))), form...)
	at := bytes.Index(transfer, form)
	if at < 0 {
		t.Fatal("no principal's Java form in the transfer")
	}
	deep := append(binary.AppendUvarint(nil, uint64(stream.Len())), stream.Bytes()...)
	transfer = slices.Concat(transfer[:at], deep, transfer[at+len(form):])
	return value, transfer
}

// TestBinaryCodecPrincipalReadWithItsLimits: BinaryCodec reads a principal's Java form
// (a session of a state transfer, and a principal action the Manager applies) with its
// Limits, in both directions: a principal of 40 roles and an attribute is refused
// under MaxHandles 16 (the transfer's message with an error wrapping ErrMessageLimit
// and jserial.ErrLimit, the action counted in Stats.BadActions) and taken with the
// zero Limits; a principal nested deeper than jserial's default MaxDepth (1000) is
// refused with the zero Limits and taken with MaxDepth raised. Before, both paths read
// it with jserial's defaults whatever the codec said (BinaryCodec had no Limits).
func TestBinaryCodecPrincipalReadWithItsLimits(t *testing.T) {
	wide := &Principal{Name: "alice", Attributes: map[string]any{"mail": "alice@example.com"}}
	for i := range 40 {
		wide.Roles = append(wide.Roles, fmt.Sprint("role", i))
	}
	wideValue, err := EncodePrincipal(wide)
	if err != nil {
		t.Fatal(err)
	}
	wideTransfer, err := BinaryCodec{}.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: "c",
		SessionID: idSessionState, Total: 1, Sessions: []SessionState{{ID: "S", Principal: wide}}})
	if err != nil {
		t.Fatal(err)
	}
	deepValue, deepTransfer := deepPrincipal(t, 1100)

	low := BinaryCodec{Limits: jserial.DecoderConfig{MaxHandles: 16}}
	high := BinaryCodec{Limits: jserial.DecoderConfig{MaxDepth: 4000}}
	for _, c := range []struct {
		name            string
		value, transfer []byte
		codec           MessageCodec
		take            bool
	}{
		{"40 roles, zero Limits", wideValue, wideTransfer, BinaryCodec{}, true},
		{"40 roles, MaxHandles 16", wideValue, wideTransfer, low, false},
		{"40 roles, *BinaryCodec MaxHandles 16", wideValue, wideTransfer, &low, false},
		{"40 roles, MaxDepth 4000", wideValue, wideTransfer, high, true},
		{"1100 deep, zero Limits", deepValue, deepTransfer, BinaryCodec{}, false},
		{"1100 deep, MaxDepth 4000", deepValue, deepTransfer, high, true},
		{"1100 deep, *BinaryCodec MaxDepth 4000", deepValue, deepTransfer, &high, true},
	} {
		// Past the limits, the session is left out of the chunk, the rest of it read
		// (TestTransferRefusesOnlyTheSessionPastLimits).
		got, err := c.codec.DecodeMessage(c.transfer)
		switch {
		case err != nil:
			t.Errorf("%s: transfer refused whole: %v", c.name, err)
		case c.take && (len(got.Sessions) != 1 || got.Sessions[0].Principal == nil):
			t.Errorf("%s: the transfer's session, or its principal, is missing (%d sessions)", c.name, len(got.Sessions))
		case !c.take && (len(got.Sessions) != 0 || len(got.refused) != 1):
			t.Errorf("%s: the transfer's principal was taken past the limits (%d sessions, %d left out)",
				c.name, len(got.Sessions), len(got.refused))
		case !c.take && (got.refused[0].id != "S" || !strings.Contains(got.refused[0].why, "limit exceeded")):
			t.Errorf("%s: left out %+v, want session S past jserial's limits", c.name, got.refused[0])
		}

		m := &Manager{cl: &Cluster{codec: c.codec}}
		s := &Session{m: m, id: "S", valid: true}
		s.apply([]Action{{Type: ActionPrincipal, Op: OpSet, Value: c.value}}, stamp{}, false, false)
		bad := m.stats.badActions.Load()
		if c.take && (s.principal == nil || bad != 0) {
			t.Errorf("%s: the action's principal was not taken (%d bad actions)", c.name, bad)
		} else if !c.take && (s.principal != nil || bad != 1) {
			t.Errorf("%s: the action's principal was taken past the limits (%d bad actions)", c.name, bad)
		}
	}
}
