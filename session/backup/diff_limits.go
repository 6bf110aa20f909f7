package backup

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/gotribes/tribes/internal/declimits"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// leaveOut returns the diff of the pending changes without the values that make
// Limits.Java refuse it (cause, an error wrapping delta.ErrMessageLimit), and records
// those for takeLeftOut; s.mu is held. As session/delta's Replicate does (its
// splitPastLimits): each attribute or principal value is encoded alone and left out if
// that goes beyond the limits; of the others, each is kept, in order, when it fits with
// the changes without a value and the values kept before it (first fit,
// declimits.FirstFit: a later value is tried after a larger one left out,
// TestDiffPastLimitsKeepsALaterValueThatFits, also one as large, which may share class
// descriptors with those kept, TestDiffKeepsALaterEqualSizeValueThatFits, within
// FirstFit's budget), and left out otherwise. When no value is the cause, cause is
// returned and the changes stay pending.
//
// The values are fitted with fitCodec's limits, under which values that fit together
// still fit without one of them, as FirstFit's exactness needs
// (TestDiffFitsUnderAFixedHandleLimit); the diff they make is within Limits.Java's.
func (s *Session) leaveOut(cause error) ([]byte, error) {
	actions := s.changes()
	var b []byte
	fit := fitCodec(s.limits.Java)
	encodes := func(as []delta.Action) bool {
		var err error
		b, err = fit.EncodeDeltaRequest(s.st.ID, as)
		return !errors.Is(err, delta.ErrMessageLimit)
	}
	// value[i] is the place of action i among the values within the limits alone, -1
	// for a value beyond them, -2 for a change without a value (always kept); sizes are
	// those values' sizes encoded alone.
	const noValue = -2
	value := make([]int, len(actions))
	var sizes []int
	for i := range actions {
		a := &actions[i]
		switch {
		case a.Op != delta.OpSet || a.Type != delta.ActionAttribute && a.Type != delta.ActionNote &&
			a.Type != delta.ActionPrincipal:
			value[i] = noValue
		case encodes(actions[i : i+1]):
			value[i] = len(sizes)
			sizes = append(sizes, len(b))
		default:
			value[i] = -1
		}
	}
	kept := func(v int, keep []bool) bool { return v == noValue || v >= 0 && keep[v] }
	with := func(keep []bool) []delta.Action {
		var as []delta.Action
		for i, v := range value {
			if kept(v, keep) {
				as = append(as, actions[i])
			}
		}
		return as
	}
	keep := declimits.FirstFit(sizes, func(keep []bool) bool { return encodes(with(keep)) })
	var out []leftValue
	for i, v := range value {
		if !kept(v, keep) {
			out = append(out, leftValue{actions[i].Type, actions[i].Name})
		}
	}
	if len(out) == 0 {
		return nil, cause
	}
	b, err := s.limits.Java.EncodeDeltaRequest(s.st.ID, with(keep))
	if err != nil {
		return nil, cause // the values are not the cause: the changes stay pending
	}
	s.leftOut = append(s.leftOut, out...)
	if s.leftOutWhy == nil {
		s.leftOutWhy = cause
	}
	return b, nil
}

// fitCodec returns java with a MaxHandles left 0 set to jserial.DefaultMaxHandles. Left
// 0, the handles a stream may take grow with its bytes (one per 8 bytes beyond the
// default, as a receiver reads it): values fitting together could then stop fitting
// without one of them, a value of many bytes and few handles (a byte array) making room
// for the handles of values before it, and FirstFit would keep, for a run of values that
// fits, a value that does not fit with those kept before it. Set, the limit is the same
// for every stream, and values that fit together still fit without one of them: it is
// the least the grown limit can be, so that what fits under it fits under java's. So a
// diff past Limits.Java keeps at most DefaultMaxHandles handles (1<<20) when MaxHandles
// is 0, where a diff of more bytes would be let carry more.
func fitCodec(java delta.JavaCodec) delta.JavaCodec {
	if java.Limits.MaxHandles == 0 {
		java.Limits.MaxHandles = jserial.DefaultMaxHandles
	}
	return java
}

// leftValue is a value left out of a diff or a full copy: its type (attribute, note,
// principal) and name.
type leftValue struct {
	t    delta.ActionType
	name string
}

func (v leftValue) String() string {
	if v.t == delta.ActionPrincipal {
		return v.t.String()
	}
	return fmt.Sprintf("%s %.64q", v.t, v.name)
}

// joinLeft is vs, comma-separated.
func joinLeft(vs []leftValue) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, ", ")
}

// takeLeftOut returns how many changes Diffs left out since the last call (and no full
// copy carried since), and an error wrapping delta.ErrMessageLimit and the encoder's
// refusal that names them and the values the last full copy left out (nil for none),
// and forgets them. Unless sent (the Replicate calling it sent what it had to), the
// values full copies carried since the last call are reported as before they did
// (carriedDiff, carriedFull): those copies may not have left. The values left out of
// full copies were counted as they were made (fullCopy).
func (s *Session) takeLeftOut(sent bool) (diffs int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleCarriedLocked(sent)
	var errs []error
	diffs = len(s.leftOut)
	if diffs > 0 {
		errs = append(errs, fmt.Errorf("backup: session %s: %w: left out of its diff, not replicated and no longer pending: %s (%w)",
			s.st.ID, delta.ErrMessageLimit, joinLeft(s.leftOut), s.leftOutWhy))
	}
	if len(s.fullOut) > 0 {
		errs = append(errs, fmt.Errorf("backup: session %s: %w: left out of its full copy, not on the other nodes: %s (%w)",
			s.st.ID, delta.ErrMessageLimit, joinLeft(s.fullOut), s.fullOutWhy))
	}
	s.leftOut, s.leftOutWhy, s.fullOut, s.fullOutWhy = nil, nil, nil, nil
	return diffs, errors.Join(errs...)
}

// settleCarried settles the reports of the values full copies carried since it last
// ran (carriedDiff, carriedFull) once the send of those copies is known: sent, they are
// on the backup and their reports are dropped; not sent, the reports come back, for the
// next Manager.Replicate to give. A Put of the Manager's (ChangeSessionID) settles its
// own copy's (TestRenamePutThatSentSettlesTheCarriedReport); a Replicate settles the
// others, by its own outcome (takeLeftOut).
func (s *Session) settleCarried(sent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleCarriedLocked(sent)
}

// settleCarriedLocked is settleCarried with s.mu held.
func (s *Session) settleCarriedLocked(sent bool) {
	if !sent && len(s.carriedDiff) > 0 {
		s.leftOut, s.leftOutWhy = appendNew(s.leftOut, s.carriedDiff), cmp.Or(s.leftOutWhy, s.carriedDiffWhy)
	}
	if !sent && len(s.carriedFull) > 0 {
		s.fullOut, s.fullOutWhy = appendNew(s.fullOut, s.carriedFull), cmp.Or(s.fullOutWhy, s.carriedFullWhy)
	}
	s.carriedDiff, s.carriedDiffWhy, s.carriedFull, s.carriedFullWhy = nil, nil, nil, nil
}
