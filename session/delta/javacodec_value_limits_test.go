package delta_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// manyStrings is JavaValueCodec's stream of a list of n distinct strings: n+4 handles.
func manyStrings(t *testing.T, n int) []byte {
	t.Helper()
	many := make([]any, n)
	for i := range many {
		many[i] = fmt.Sprint("s", i)
	}
	b, err := delta.JavaValueCodec{}.Marshal(many)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestJavaCodecReadsValuesWithItsLimits: JavaCodec's encoder read a delta's attribute
// and note values with jserial's default limits whatever its Limits said, so that a value
// beyond them (100 distinct strings under MaxHandles 50) was encoded, and every node with
// the same codec refused the message. A delta's values are read with Limits now: one
// beyond them is refused with an error wrapping ErrMessageLimit and jserial.ErrLimit, dst
// unchanged, and one within them still travels; a state transfer chunk, which the codec
// does not check, still encodes.
func TestJavaCodecReadsValuesWithItsLimits(t *testing.T) {
	many := manyStrings(t, 100)
	lowered := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}
	deltaOf := func(a delta.Action) *delta.Message {
		return &delta.Message{Event: delta.EventDelta, Context: "/app", SessionID: "S1", UniqueID: "u",
			Actions: []delta.Action{a}}
	}
	transferOf := func(v []byte) *delta.Message {
		return &delta.Message{Event: delta.EventAllSessionData, Context: "/app", SessionID: "SESSION-STATE",
			Sessions: []delta.SessionState{{ID: "S1", Attributes: []delta.NamedValue{{Name: "v", Value: v}}}}}
	}
	for name, m := range map[string]*delta.Message{
		"an attribute": deltaOf(delta.Action{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "many", Value: many}),
		"a note":       deltaOf(delta.Action{Type: delta.ActionNote, Op: delta.OpSet, Name: "many", Value: many}),
	} {
		// The premise: encoded with the defaults, the message does not decode with lowered.
		b, err := delta.JavaCodec{}.AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("%s: encoded with the defaults: %v", name, err)
		}
		if _, err := lowered.DecodeMessage(b); !errors.Is(err, delta.ErrMessageLimit) {
			t.Fatalf("%s: decoded with MaxHandles 50: %v, want ErrMessageLimit", name, err)
		}
		out, err := lowered.AppendMessage([]byte("prefix"), m)
		if !errors.Is(err, delta.ErrMessageLimit) || !errors.Is(err, jserial.ErrLimit) || string(out) != "prefix" {
			t.Errorf("%s: AppendMessage with MaxHandles 50: %d bytes, %v, want dst unchanged and an error wrapping ErrMessageLimit and jserial.ErrLimit",
				name, len(out), err)
		}
	}
	if _, err := lowered.AppendMessage(nil, transferOf(many)); err != nil {
		t.Errorf("a state transfer chunk, not checked: %v", err)
	}
	few := manyStrings(t, 40)
	if b, err := lowered.AppendMessage(nil, deltaOf(delta.Action{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "few", Value: few})); err != nil {
		t.Errorf("a value within MaxHandles 50: %v", err)
	} else if _, err := lowered.DecodeMessage(b); err != nil {
		t.Errorf("a value within MaxHandles 50 does not decode: %v", err)
	}

}

// TestJavaCodecValuePastLimitsNotSent: Session.Set refuses a value that does not read
// back within the value codec's limits (JavaValueCodec takes the cluster codec's), but a
// value mutated in place after Set is re-encoded and recorded unchecked
// (Config.DetectMutations), so that a map grown past JavaCodec's Limits (200 distinct
// strings under MaxHandles 50) was sent in a delta that the peer with the same codec
// refused (FAIL_ACK, counted Malformed). It is refused at encode now: Replicate fails
// with an error wrapping ErrMessageLimit and jserial.ErrLimit, and nothing reaches the
// peer.
func TestJavaCodecValuePastLimitsNotSent(t *testing.T) {
	ctx := context.Background()
	codec := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	a := readyManager(t, ach, codec, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked,
		Codec: delta.JavaValueCodec{}, DetectMutations: true})
	_, bch := newChannel(t, nw)
	bcl := newCluster(t, bch, delta.ClusterConfig{Codec: codec})
	t.Cleanup(func() { _ = bcl.Close(context.Background()) })
	b, err := bcl.NewManager(delta.Config{Name: appName, JvmRoute: "b", MemberWait: -1, Codec: delta.JavaValueCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("m", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	v, ok := s.Get("m")
	if !ok {
		t.Fatal("no attribute m")
	}
	m := v.(map[string]any)
	for i := range 100 {
		m[fmt.Sprint("k", i)] = fmt.Sprint("v", i)
	}
	err = a.Replicate(ctx, s)
	if !errors.Is(err, delta.ErrMessageLimit) || !errors.Is(err, jserial.ErrLimit) || errors.Is(err, channel.ErrAckFailed) {
		t.Errorf("Replicate: %v, want an error wrapping ErrMessageLimit and jserial.ErrLimit, not sent", err)
	}
	if st := bcl.Stats(); st.Malformed != 0 {
		t.Errorf("B refused %d messages: the delta was sent", st.Malformed)
	}
	got := b.Find(s.ID())
	if got == nil {
		t.Fatal("B does not hold the session")
	}
	if v, _ := got.Get("m"); len(v.(map[string]any)) != 1 {
		t.Errorf("B's copy of m holds %d entries, want 1", len(v.(map[string]any)))
	}
}

// TestJavaCodecRefusesPrincipalPastLimitsOnSend: a Manager records a principal action
// only in Session.SetPrincipal, which refuses one past JavaCodec's Limits (6e19aee), but
// AppendMessage given such an action (100 distinct strings under MaxHandles 50) refused
// it with an error wrapping ErrMalformed and jserial.ErrLimit, not ErrMessageLimit, as
// its doc says and BinaryCodec's refusal does (checkPrincipal). It wraps ErrMessageLimit
// and jserial.ErrLimit now, dst unchanged, and a principal within the limits encodes.
func TestJavaCodecRefusesPrincipalPastLimitsOnSend(t *testing.T) {
	codec := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}
	principal := func(n int) *delta.Message {
		many := make([]any, n)
		for i := range many {
			many[i] = fmt.Sprint("s", i)
		}
		v, err := delta.EncodePrincipal(&delta.Principal{Name: "alice", Attributes: map[string]any{"many": many}})
		if err != nil {
			t.Fatal(err)
		}
		return &delta.Message{Event: delta.EventDelta, Context: "/app", SessionID: "S1", UniqueID: "u",
			Actions: []delta.Action{{Type: delta.ActionPrincipal, Op: delta.OpSet, Name: "__SET__PRINCIPAL__", Value: v}}}
	}
	out, err := codec.AppendMessage([]byte("prefix"), principal(100))
	if !errors.Is(err, delta.ErrMessageLimit) || !errors.Is(err, jserial.ErrLimit) || string(out) != "prefix" {
		t.Errorf("AppendMessage: %d bytes, %v, want dst unchanged and an error wrapping ErrMessageLimit and jserial.ErrLimit", len(out), err)
	}
	b, err := codec.AppendMessage(nil, principal(20))
	if err != nil {
		t.Fatalf("a principal within the limits: %v", err)
	}
	m, err := codec.DecodeMessage(b)
	if err != nil || len(m.Actions) != 1 {
		t.Fatalf("decoding it: %v", err)
	}
	if p, err := codec.DecodePrincipal(m.Actions[0].Value); err != nil || p.Name != "alice" {
		t.Errorf("its principal: %v, %v", p, err)
	}
}

// TestJavaCodecValuesTogetherPastLimitsNotSent: JavaCodec's encoder read each value of a
// delta with Limits alone, but a node alike decodes the delta's values in one stream, one
// handle table for them all, so that two values of 40 distinct strings each under
// MaxHandles 50, each within it, were encoded and sent, and every node with the same codec
// refused the message. Such a delta is refused at encode now, dst unchanged, with an error
// wrapping ErrMessageLimit and jserial.ErrLimit, while two small values still travel.
func TestJavaCodecValuesTogetherPastLimitsNotSent(t *testing.T) {
	lowered := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}
	twoOf := func(n int) *delta.Message {
		return &delta.Message{Event: delta.EventDelta, Context: "/app", SessionID: "S1", UniqueID: "u",
			Actions: []delta.Action{
				{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "a", Value: manyStrings(t, n)},
				{Type: delta.ActionNote, Op: delta.OpSet, Name: "b", Value: manyStrings(t, n)},
			}}
	}
	// The premise: encoded with the defaults, the message does not decode with lowered.
	b, err := delta.JavaCodec{}.AppendMessage(nil, twoOf(40))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lowered.DecodeMessage(b); !errors.Is(err, delta.ErrMessageLimit) {
		t.Fatalf("two values of 40 strings decoded with MaxHandles 50: %v, want ErrMessageLimit", err)
	}
	out, err := lowered.AppendMessage([]byte("prefix"), twoOf(40))
	if !errors.Is(err, delta.ErrMessageLimit) || !errors.Is(err, jserial.ErrLimit) || string(out) != "prefix" {
		t.Errorf("AppendMessage of two values of 40 strings with MaxHandles 50: %d bytes, %v, want dst unchanged and an error wrapping ErrMessageLimit and jserial.ErrLimit",
			len(out), err)
	}
	if b, err := lowered.AppendMessage(nil, twoOf(10)); err != nil {
		t.Errorf("two values of 10 strings: %v", err)
	} else if _, err := lowered.DecodeMessage(b); err != nil {
		t.Errorf("two values of 10 strings do not decode: %v", err)
	}
}
