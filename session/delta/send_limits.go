package delta

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// splitPastLimits splits the actions of msg, a delta of this node's that the codec
// refused to encode for its limits (ErrMessageLimit: a value beyond them, or values
// within them alone that go beyond them together, JavaCodec's handles), into those that
// go out and those left out: in order, each attribute, note or principal value is kept
// if the delta of the actions kept so far, the changes without a value and it encodes.
// Without a cause among the values (too many actions), nothing is left out and kept is
// nil.
func (m *Manager) splitPastLimits(msg *Message) (kept, out []Action) {
	if msg.Event != EventDelta {
		return nil, nil
	}
	carries := func(a *Action) bool {
		return a.Op == OpSet && (a.Type == ActionAttribute || a.Type == ActionNote || a.Type == ActionPrincipal)
	}
	take := make([]bool, len(msg.Actions))
	for i := range msg.Actions {
		take[i] = !carries(&msg.Actions[i])
	}
	probe := *msg
	var buf []byte
	for i := range msg.Actions {
		if take[i] {
			continue
		}
		take[i] = true
		probe.Actions = probe.Actions[:0:0]
		for j := range msg.Actions {
			if take[j] {
				probe.Actions = append(probe.Actions, msg.Actions[j])
			}
		}
		var err error
		if buf, err = m.cl.codec.AppendMessage(buf[:0], &probe); errors.Is(err, ErrMessageLimit) {
			take[i] = false
			out = append(out, msg.Actions[i])
		}
	}
	for i := range msg.Actions {
		if take[i] {
			kept = append(kept, msg.Actions[i])
		}
	}
	probe.Actions = kept
	if _, err := m.cl.codec.AppendMessage(buf[:0], &probe); err != nil || len(out) == 0 {
		return nil, nil // the values are not the cause: the delta stays pending whole
	}
	return kept, out
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
