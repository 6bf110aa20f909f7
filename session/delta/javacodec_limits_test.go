package delta

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

// TestJavaCodecRefusesWhatItWouldNotDecode: JavaCodec encoded a delta with more actions
// than MaxEntries, or longer than Limits.MaxBytes, which a node with the same codec
// refuses as malformed after acknowledging it. AppendMessage refuses it now, with an
// error wrapping ErrMessageLimit, and still encodes what fits.
func TestJavaCodecRefusesWhatItWouldNotDecode(t *testing.T) {
	c := JavaCodec{MaxEntries: 4, Limits: jserial.DecoderConfig{MaxBytes: 4096}}
	note := func(n int) Action {
		return Action{Type: ActionNote, Op: OpSet, Name: "note" + strings.Repeat("x", n%7), Value: bytes.Repeat([]byte("v"), n)}
	}
	remove := Action{Type: ActionAttribute, Op: OpRemove, Name: "a"}
	delta := func(as ...Action) *Message {
		return &Message{Event: EventDelta, Context: "/app", SessionID: "S1", UniqueID: "u", Actions: as}
	}
	for name, m := range map[string]*Message{
		"5 actions":         delta(remove, remove, remove, remove, remove),
		"a value of 5000":   delta(note(5000)),
		"3 values of 2000":  delta(note(2000), note(2001), note(2002)),
		"a long id change":  {Event: EventChangeSessionID, Context: "/app", SessionID: strings.Repeat("s", 3000), NewID: strings.Repeat("n", 3000)},
		"a long session id": delta(remove),
	} {
		if name == "a long session id" {
			m.SessionID = strings.Repeat("s", 5000)
		}
		// The premise: encoded without limits, the message does not decode with c.
		b, err := JavaCodec{}.AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("%s: unlimited encode: %v", name, err)
		}
		if _, err := c.DecodeMessage(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: decoding with the limits: %v, want ErrMalformed", name, err)
		}
		dst := []byte("prefix")
		out, err := c.AppendMessage(dst, m)
		if !errors.Is(err, ErrMessageLimit) || string(out) != "prefix" {
			t.Errorf("%s: AppendMessage: %d bytes, %v, want dst unchanged and ErrMessageLimit", name, len(out), err)
		}
	}
	for name, m := range map[string]*Message{
		"4 actions":        delta(remove, remove, remove, remove),
		"2 values of 1500": delta(note(1500), note(1501)),
	} {
		b, err := c.AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := c.DecodeMessage(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Session.Set checks names and values against them (checkValueLimits).
	l, ok := any(c).(valueLimits)
	if !ok {
		t.Fatal("JavaCodec does not implement valueLimits")
	}
	if s, v := l.limits(); s != 65535 || v != 4096 {
		t.Errorf("limits: %d, %d, want 65535, 4096", s, v)
	}
}
