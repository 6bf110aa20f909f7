package delta

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gotribes/tribes/internal/declimits"
	"github.com/gotribes/tribes/jserial"
)

// splitPastLimits splits the actions of msg, a delta of this node's that the codec
// refused to encode for its limits (ErrMessageLimit: a value beyond them, or values
// within them alone that go beyond them together, JavaCodec's handles), into those that
// go out and those left out. Each attribute, note or principal value is encoded alone
// first, and left out if that goes beyond the limits; the delta of the changes without
// a value and the other values is then encoded, and if it still goes beyond them
// (together), the values are kept by first fit (declimits.FirstFit): each, in order,
// when it fits with the changes without a value and the values kept before it, a later
// smaller value being kept after a larger one left out
// (TestSplitPastLimitsKeepsALaterValueThatFits). The encoder sees each value once, then
// the delta a number of times logarithmic in its values, and beyond that at most
// declimits.FirstFitWork deltas' worth of probes, one per value left out (FirstFit says
// what it leaves out unprobed past that): it saw the delta once per value, in time
// quadratic in its values (TestSplitPastLimitsEncodesInLinearTime).
// The values are fitted with fitCodec's limits, under which values that fit together
// still fit without one of them, as FirstFit's exactness needs
// (TestSplitPastLimitsFitsUnderAFixedHandleLimit); the delta kept is within the
// cluster codec's.
// When the values are not the cause (the changes without a value go beyond the limits
// alone, as more of them than MaxEntries), nothing is left out and kept is nil.
func (m *Manager) splitPastLimits(msg *Message) (kept, out []Action) {
	if msg.Event != EventDelta {
		return nil, nil
	}
	carries := func(a *Action) bool {
		return a.Op == OpSet && (a.Type == ActionAttribute || a.Type == ActionNote || a.Type == ActionPrincipal)
	}
	probe := *msg
	var buf []byte
	fit := fitCodec(m.cl.codec)
	encodes := func(actions []Action) bool {
		probe.Actions = actions
		var err error
		buf, err = fit.AppendMessage(buf[:0], &probe)
		return !errors.Is(err, ErrMessageLimit)
	}
	// value[i] is the place of action i among the values within the limits alone, -1 for
	// a value beyond them, -2 for a change without a value (always kept); sizes are
	// those values' sizes encoded alone.
	const beyond, noValue = -1, -2
	value := make([]int, len(msg.Actions))
	var sizes []int
	for i := range msg.Actions {
		a := &msg.Actions[i]
		switch {
		case !carries(a):
			value[i] = noValue
		case encodes(msg.Actions[i : i+1]):
			value[i] = len(sizes)
			sizes = append(sizes, len(buf))
		default:
			value[i] = beyond
		}
	}
	var scratch []Action
	with := func(keep []bool) []Action {
		scratch = scratch[:0]
		for i, v := range value {
			if v == noValue || v >= 0 && keep[v] {
				scratch = append(scratch, msg.Actions[i])
			}
		}
		return scratch
	}
	keep := declimits.FirstFit(sizes, func(keep []bool) bool { return encodes(with(keep)) })
	for i, v := range value {
		if v == noValue || v >= 0 && keep[v] {
			kept = append(kept, msg.Actions[i])
		} else {
			out = append(out, msg.Actions[i])
		}
	}
	probe.Actions = kept
	if _, err := m.cl.codec.AppendMessage(buf[:0], &probe); err != nil || len(out) == 0 {
		return nil, nil // the values are not the cause: the delta stays pending whole
	}
	return kept, out
}

// fitCodec returns c, a JavaCodec whose MaxHandles is left 0, with it set to
// jserial.DefaultMaxHandles; any other codec as it is. Left 0, the handles a stream may
// take grow with its bytes (one per 8 bytes beyond the default, as a receiver reads it):
// values fitting together could then stop fitting without one of them, a value of many
// bytes and few handles (a byte array) making room for the handles of values before
// it, and FirstFit would keep, for a run of values that fits, a value that does not fit
// with those kept before it. Set, the limit is the same for every stream, and values
// that fit together still fit without one of them: it is the least the grown limit can
// be, so that what fits under it fits under c's. So a delta past the limits keeps at
// most DefaultMaxHandles handles (1<<20) when MaxHandles is 0, where a delta of more
// bytes would be let carry more (session/backup's fitCodec does the same for a diff).
func fitCodec(c MessageCodec) MessageCodec {
	switch j := c.(type) {
	case JavaCodec:
		if j.Limits.MaxHandles == 0 {
			j.Limits.MaxHandles = jserial.DefaultMaxHandles
		}
		return j
	case *JavaCodec:
		if j != nil && j.Limits.MaxHandles == 0 {
			k := *j
			k.Limits.MaxHandles = jserial.DefaultMaxHandles
			return k
		}
	}
	return c
}

// droppedPastLimits counts and logs the changes of s left out of its delta for the
// codec's limits (splitPastLimits), and returns the error Replicate returns for them:
// it wraps ErrMessageLimit and cause, the encoder's refusal, and names them. They are
// not kept pending: sent again with every later delta of the session, they would make
// the codec refuse each of those too
// (TestChangePastLimitsDoesNotBlockLaterDeltas). This node keeps the value; the other
// nodes do not get it.
func (m *Manager) droppedPastLimits(s *Session, msg *Message, out []Action, cause error) error {
	names := make([]string, len(out))
	for i := range out {
		names[i] = fmt.Sprintf("%s %q", out[i].Type, out[i].Name)
	}
	m.stats.droppedPastLimits.Add(uint64(len(out)))
	list := strings.Join(names, ", ")
	m.serveLog.Log(slog.LevelWarn, "", "change past limits",
		"delta: changes left out of a session's delta for the codec's limits; the other changes were sent, the cluster does not get these",
		"session", msg.SessionID, "changes", list, "err", cause)
	return fmt.Errorf("delta: replicating session %s: %w: left out, not replicated and no longer pending: %s (%w)",
		s.ID(), ErrMessageLimit, list, cause)
}
