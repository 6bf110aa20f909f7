package delta

import (
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/jserial"
)

// TestSplitPastLimitsFitsUnderAFixedHandleLimit: with JavaCodec's MaxHandles left 0 the
// handles a stream may take grow with its bytes (one per 8 past jserial.DefaultMaxHandles),
// so values that fit together could stop fitting without one of them, and FirstFit's run
// search kept a run that fits though a value in it did not fit with those kept before it.
// Of a, c (600 000 short strings each: 1.2M handles in 8.4 MB together, past the 1<<20
// handles of a stream of that size), b (a 2 MB byte array, which makes room for a's and
// c's handles), d (2 MB, past MaxBytes 12 MB with a, c and b), e and f, splitPastLimits
// kept a,c,b,e,f (c does not fit with a alone). It now fits them with MaxHandles set to
// jserial.DefaultMaxHandles (fitCodec): a,b,d,e,f, c left out. The delta kept still
// encodes under the cluster's codec.
func TestSplitPastLimitsFitsUnderAFixedHandleLimit(t *testing.T) {
	allocbound.WithoutRace(t) // 1.2M strings encoded again and again
	value := func(v any) []byte {
		b, err := JavaValueCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	short := func(from, n int) []any {
		const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		v := make([]any, n)
		for i := range v {
			k := from + i
			var b [4]byte
			for j := range b {
				b[j] = digits[k%len(digits)]
				k /= len(digits)
			}
			v[i] = string(b[:])
		}
		return v
	}
	attr := func(name string, v any) Action {
		return Action{Type: ActionAttribute, Op: OpSet, Name: name, Value: value(v)}
	}
	msg := &Message{Event: EventDelta, Context: "c", SessionID: "S3.go", Actions: []Action{
		attr("a", short(0, 600_000)), attr("c", short(600_000, 600_000)),
		attr("b", make([]byte, 2<<20)), attr("d", make([]byte, 2<<20)), attr("e", "e"), attr("f", "f"),
	}}
	codec := JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 12 << 20}}
	m := &Manager{cl: &Cluster{codec: codec}}
	kept, out := m.splitPastLimits(msg)
	names := func(as []Action) string {
		var s []string
		for _, a := range as {
			s = append(s, a.Name)
		}
		return strings.Join(s, ",")
	}
	if got := names(kept); got != "a,b,d,e,f" {
		t.Errorf("kept %s, want a,b,d,e,f (c left out: it does not fit with a)", got)
	}
	if got := names(out); got != "c" {
		t.Errorf("left out %s, want c", got)
	}
	if _, err := codec.AppendMessage(nil, &Message{Event: EventDelta, Context: "c", SessionID: "S3.go", Actions: kept}); err != nil {
		t.Errorf("what is kept does not encode under the cluster's codec: %v", err)
	}
}
