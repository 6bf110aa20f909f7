package backup

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gotribes/tribes/internal/declimits"
	"github.com/gotribes/tribes/session/delta"
)

// leaveOut returns the diff of the pending changes without the values that make
// Limits.Java refuse it (cause, an error wrapping delta.ErrMessageLimit), and records
// those for takeLeftOut; s.mu is held. As session/delta's Replicate does (its
// splitPastLimits): each attribute or principal value is encoded alone and left out if
// that goes beyond the limits; the changes without a value and the values that fit
// alone are then kept in order as long as they fit together, the longest run of values
// that does, found by halving, and the values after it are left out. When no value is
// the cause, cause is returned and the changes stay pending.
func (s *Session) leaveOut(cause error) ([]byte, error) {
	actions := s.pending
	encodes := func(as []delta.Action) bool {
		_, err := s.limits.Java.EncodeDeltaRequest(s.st.ID, as)
		return !errors.Is(err, delta.ErrMessageLimit)
	}
	// rank[i] is the place of action i among the values within the limits alone, -1 for
	// a value beyond them, len(actions) for a change without a value (always kept).
	rank := make([]int, len(actions))
	values := 0
	for i := range actions {
		a := &actions[i]
		switch {
		case a.Op != delta.OpSet || a.Type != delta.ActionAttribute && a.Type != delta.ActionNote &&
			a.Type != delta.ActionPrincipal:
			rank[i] = len(actions)
		case encodes(actions[i : i+1]):
			rank[i] = values
			values++
		default:
			rank[i] = -1
		}
	}
	within := func(r, k int) bool { return r == len(actions) || r >= 0 && r < k }
	// first returns the changes without a value and the first k values that fit alone.
	first := func(k int) []delta.Action {
		var as []delta.Action
		for i, r := range rank {
			if within(r, k) {
				as = append(as, actions[i])
			}
		}
		return as
	}
	fit := declimits.LongestFit(values, func(k int) bool { return encodes(first(k)) })
	var out []string
	for i, r := range rank {
		if !within(r, fit) {
			out = append(out, fmt.Sprintf("%s %.64q", actions[i].Type, actions[i].Name))
		}
	}
	if len(out) == 0 {
		return nil, cause
	}
	b, err := s.limits.Java.EncodeDeltaRequest(s.st.ID, first(fit))
	if err != nil {
		return nil, cause // the values are not the cause: the changes stay pending
	}
	s.leftOut = append(s.leftOut, out...)
	if s.leftOutWhy == nil {
		s.leftOutWhy = cause
	}
	return b, nil
}

// takeLeftOut returns how many changes Diffs left out since the last call, and an error
// wrapping delta.ErrMessageLimit and the encoder's refusal that names them (nil for
// none), and forgets them.
func (s *Session) takeLeftOut() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, why := len(s.leftOut), s.leftOutWhy
	if n == 0 {
		return 0, nil
	}
	list := strings.Join(s.leftOut, ", ")
	s.leftOut, s.leftOutWhy = nil, nil
	return n, fmt.Errorf("backup: session %s: %w: left out of its diff, not replicated and no longer pending: %s (%w)",
		s.st.ID, delta.ErrMessageLimit, list, why)
}
