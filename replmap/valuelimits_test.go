package replmap_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/replmap"
)

// nested returns depth lists, each holding the next one.
func nested(depth int) any {
	var v any = "leaf"
	for range depth {
		v = []any{v}
	}
	return v
}

// distinct returns a list of n different strings (n+1 stream handles at least).
func distinct(n int) any {
	l := make([]any, n)
	for i := range l {
		l[i] = fmt.Sprint("s", i)
	}
	return l
}

// TestValueBeyondLimitsRefused: Config.Limits bound the decoding of the keys and values
// the map receives, as they bound its state list. Before, a received key or value was
// decoded with jserial's defaults whatever Config.Limits said (MaxBytes aside): a
// map configured with MaxArrayLen 10 took a list of 20. Now a MSG_BACKUP whose value or
// key passes the lowered limit is refused with an error wrapping ErrBadMessage and
// jserial.ErrLimit, the map holds nothing for it, and it keeps working: a value within
// the limits is taken, and its own Put reaches the other node.
func TestValueBeyondLimitsRefused(t *testing.T) {
	for _, tc := range []struct {
		name       string
		limits     jserial.DecoderConfig
		key, value any
	}{
		{"MaxArrayLen value", jserial.DecoderConfig{MaxArrayLen: 10}, "k", distinct(20)},
		{"MaxDepth value", jserial.DecoderConfig{MaxDepth: 12}, "k", nested(24)},
		{"MaxHandles value", jserial.DecoderConfig{MaxHandles: 16}, "k", distinct(40)},
		{"MaxArrayLen key", jserial.DecoderConfig{MaxArrayLen: 10}, distinct(20), "v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := channeltest.NewNetwork()
			a, b := newChannel(t, nw), newChannel(t, nw)
			for _, n := range []*node{a, b} {
				waitChannelMembers(t, n, 1)
			}
			newMap(t, a, replmap.Config{})
			newMap(t, b, replmap.Config{Limits: tc.limits})
			start(t, a)
			start(t, b)
			waitMapMembers(t, []*node{a, b}, 1)

			err := replmap.DeliverBackup(b.m, a.ch.LocalMember(), tc.key, tc.value)
			if !errors.Is(err, replmap.ErrBadMessage) || !errors.Is(err, jserial.ErrLimit) {
				t.Fatalf("a MSG_BACKUP beyond %+v: %v, want an error wrapping ErrBadMessage and jserial.ErrLimit", tc.limits, err)
			}
			if st := b.m.Stats(); st.Entries != 0 {
				t.Fatalf("B holds %d entries after the refused MSG_BACKUP, want 0", st.Entries)
			}
			// Within the limits, the same node's MSG_BACKUP is taken.
			if err := replmap.DeliverBackup(b.m, a.ch.LocalMember(), "small", []any{"x"}); err != nil {
				t.Fatalf("a MSG_BACKUP within the limits: %v", err)
			}
			if v, primary, ok := b.m.Peek("small"); !ok || primary || fmt.Sprint(v) != "[x]" {
				t.Fatalf("B's backup of small: %v, primary %v, held %v", v, primary, ok)
			}
			if _, err := b.m.Put(ctx(t), "b's", "w"); err != nil {
				t.Fatalf("B's Put: %v", err)
			}
			if got := get(t, a, "b's"); got != "w" {
				t.Fatalf("A's Get of B's key = %#v", got)
			}
		})
	}
}
