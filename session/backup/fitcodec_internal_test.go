package backup

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestFitCodecMonotone: under the limits leaveOut fits values with (fitCodec), values
// that fit together still fit without any of them, whatever the limits (MaxHandles
// left 0 or set, MaxBytes, MaxEntries) and the values (lists of strings, some shared
// between values, byte arrays, removals): the property FirstFit's exactness needs. At
// random, a set of actions that encodes, and random subsets of it, which must encode
// too, also under the real limits (leaveOut encodes the diff it sends with those). (With MaxHandles left 0, Limits.Java itself is not monotone past
// jserial.DefaultMaxHandles handles: TestDiffFitsUnderAFixedHandleLimit.)
func TestFitCodecMonotone(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	value := func() []byte {
		var v any
		switch rng.IntN(3) {
		case 0:
			l := make([]any, rng.IntN(40))
			for i := range l {
				l[i] = "s" + strconv.Itoa(rng.IntN(60)) // shared between values at times
			}
			v = l
		case 1:
			v = make([]byte, rng.IntN(600))
		default:
			v = strconv.Itoa(rng.IntN(1000))
		}
		b, err := delta.JavaValueCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	checked := 0
	for range 400 {
		var l jserial.DecoderConfig
		if rng.IntN(2) == 0 {
			l.MaxHandles = 1 + rng.IntN(120)
		}
		if rng.IntN(2) == 0 {
			l.MaxBytes = int64(200 + rng.IntN(2000))
		}
		java := delta.JavaCodec{Limits: l, MaxEntries: rng.IntN(3) * (2 + rng.IntN(8))}
		fit := fitCodec(java)
		actions := make([]delta.Action, 1+rng.IntN(10))
		for i := range actions {
			actions[i] = delta.Action{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "a" + strconv.Itoa(i), Value: value()}
			if rng.IntN(5) == 0 {
				actions[i] = delta.Action{Type: delta.ActionAttribute, Op: delta.OpRemove, Name: "r" + strconv.Itoa(i)}
			}
		}
		// Drop actions at random until the set encodes.
		for len(actions) > 0 {
			if _, err := fit.EncodeDeltaRequest("S1", actions); !errors.Is(err, delta.ErrMessageLimit) {
				break
			}
			i := rng.IntN(len(actions))
			actions = append(actions[:i:i], actions[i+1:]...)
		}
		for range 8 {
			var sub []delta.Action
			for _, a := range actions {
				if rng.IntN(2) == 0 {
					sub = append(sub, a)
				}
			}
			if _, err := fit.EncodeDeltaRequest("S1", sub); errors.Is(err, delta.ErrMessageLimit) {
				t.Fatalf("limits %+v: %d actions fit, %d of them do not: %v", fit.Limits, len(actions), len(sub), err)
			}
			// What fits under fitCodec's limits encodes under the real ones, with which
			// leaveOut encodes the diff it sends (a failure there would leave the changes
			// pending, the diff unsent).
			if _, err := java.EncodeDeltaRequest("S1", sub); err != nil {
				t.Fatalf("limits %+v: %d actions fit fitCodec's limits, not the real ones: %v", java.Limits, len(sub), err)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}
