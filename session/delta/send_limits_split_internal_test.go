package delta

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// countingCodec counts the actions of the messages its codec encodes: the work of an
// encoding is about proportional to them.
type countingCodec struct {
	MessageCodec
	actions *int
}

func (c countingCodec) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	*c.actions += len(m.Actions)
	return c.MessageCodec.AppendMessage(dst, m)
}

// TestSplitPastLimitsEncodesInLinearTime: splitPastLimits encoded the delta of the
// actions kept so far once per value, so a delta of n values, one of them past the
// codec's limits, made the encoder go over about n²/2 actions (20 000 for 200 values).
// It encodes each value alone, then the delta: about 3n actions. With values that go
// beyond the limits only together (JavaCodec's handles), the delta is encoded a number
// of times logarithmic in n. What is kept and left out is checked too: the value past
// the limits alone is left out, the others kept; of values past them together, the
// first ones that fit are kept, in order (each value after the first left out is tried
// within declimits.FirstFitWork, the others, no smaller, left out unprobed).
func TestSplitPastLimitsEncodesInLinearTime(t *testing.T) {
	attr := func(name string, v []byte) Action {
		return Action{Type: ActionAttribute, Op: OpSet, Name: name, Value: v}
	}
	javaValue := func(v any) []byte {
		b, err := JavaValueCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	names := func(as []Action) string {
		var s []string
		for _, a := range as {
			s = append(s, a.Name)
		}
		return strings.Join(s, ",")
	}
	for _, n := range []int{50, 200} {
		t.Run(fmt.Sprint("binary/", n), func(t *testing.T) {
			// One value past MaxValueSize, at the middle, and removals between the values.
			msg := &Message{Event: EventDelta, Context: "c", SessionID: "S"}
			for i := range n {
				v := []byte("small")
				if i == n/2 {
					v = make([]byte, 100)
				}
				msg.Actions = append(msg.Actions, attr(fmt.Sprint("k", i), v),
					Action{Type: ActionAttribute, Op: OpRemove, Name: fmt.Sprint("r", i)})
			}
			work := 0
			m := &Manager{cl: &Cluster{codec: countingCodec{BinaryCodec{MaxValueSize: 64}, &work}}}
			kept, out := m.splitPastLimits(msg)
			if len(out) != 1 || out[0].Name != fmt.Sprint("k", n/2) || len(kept) != 2*n-1 {
				t.Fatalf("left out %q, kept %d actions; want k%d and %d", names(out), len(kept), n/2, 2*n-1)
			}
			if limit := 3 * len(msg.Actions); work > limit {
				t.Errorf("the encoder went over %d actions for a delta of %d, want at most %d", work, len(msg.Actions), limit)
			}
		})
		t.Run(fmt.Sprint("java/", n), func(t *testing.T) {
			// Values within MaxHandles alone, past it together: each a list of 4 strings
			// (about 8 handles), 100 handles allowed.
			msg := &Message{Event: EventDelta, Context: "c", SessionID: "S"}
			for i := range n {
				msg.Actions = append(msg.Actions, attr(fmt.Sprint("k", i), javaValue([]any{
					fmt.Sprint("a", i), fmt.Sprint("b", i), fmt.Sprint("c", i), fmt.Sprint("d", i)})))
			}
			work := 0
			codec := JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 100}}
			m := &Manager{cl: &Cluster{codec: countingCodec{codec, &work}}}
			kept, out := m.splitPastLimits(msg)
			if len(kept) == 0 || len(out) == 0 || len(kept)+len(out) != n {
				t.Fatalf("kept %d, left out %d of %d values", len(kept), len(out), n)
			}
			for i, a := range kept {
				if a.Name != fmt.Sprint("k", i) {
					t.Fatalf("kept %q, want the first %d values in order", names(kept), len(kept))
				}
			}
			if _, err := codec.AppendMessage(nil, &Message{Event: EventDelta, Context: "c", SessionID: "S", Actions: kept}); err != nil {
				t.Errorf("what is kept does not encode: %v", err)
			}
			more := append(append([]Action(nil), kept...), out[0])
			if _, err := codec.AppendMessage(nil, &Message{Event: EventDelta, Context: "c", SessionID: "S", Actions: more}); err == nil {
				t.Errorf("the first value left out fits with those kept")
			}
			logN := 0
			for k := n; k > 0; k /= 2 {
				logN++
			}
			if limit := (3 + logN) * n; work > limit {
				t.Errorf("the encoder went over %d actions for a delta of %d, want at most %d", work, n, limit)
			}
		})
	}
}

// TestSplitPastLimitsKeepsALaterValueThatFits: of values within the codec's limits alone
// that go beyond them together, splitPastLimits kept the longest leading run that fits,
// so a small value after a large one left out was left out too. It now keeps each value
// that fits with those kept before it: under JavaCodec's MaxBytes 600, a (a string of
// 100, a delta of 457 bytes alone) is kept, L (180: 537 alone, 654 with a) left out, and
// c (10: 484 with a) kept; the removal between them stays.
func TestSplitPastLimitsKeepsALaterValueThatFits(t *testing.T) {
	value := func(n int) []byte {
		b, err := JavaValueCodec{}.Marshal(strings.Repeat("x", n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	msg := &Message{Event: EventDelta, Context: "c", SessionID: "S", Actions: []Action{
		{Type: ActionAttribute, Op: OpSet, Name: "a", Value: value(100)},
		{Type: ActionAttribute, Op: OpSet, Name: "L", Value: value(180)},
		{Type: ActionAttribute, Op: OpRemove, Name: "r"},
		{Type: ActionAttribute, Op: OpSet, Name: "c", Value: value(10)},
	}}
	codec := JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 600}}
	encodes := func(as ...Action) error {
		_, err := codec.AppendMessage(nil, &Message{Event: EventDelta, Context: "c", SessionID: "S", Actions: as})
		return err
	}
	a, l, r, c := msg.Actions[0], msg.Actions[1], msg.Actions[2], msg.Actions[3]
	if err := errors.Join(encodes(a), encodes(l), encodes(a, r, c)); err != nil {
		t.Fatalf("a, L or a, r and c do not encode: %v", err)
	}
	if err := encodes(a, l); !errors.Is(err, ErrMessageLimit) {
		t.Fatalf("a and L encode together (%v): the test needs them past the limits", err)
	}
	m := &Manager{cl: &Cluster{codec: codec}}
	kept, out := m.splitPastLimits(msg)
	names := func(as []Action) (s []string) {
		for _, a := range as {
			s = append(s, a.Name)
		}
		return s
	}
	if got := strings.Join(names(kept), ","); got != "a,r,c" {
		t.Errorf("kept %s, want a,r,c", got)
	}
	if got := strings.Join(names(out), ","); got != "L" {
		t.Errorf("left out %s, want L", got)
	}
}
