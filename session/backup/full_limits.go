package backup

import (
	"cmp"
	"errors"
	"slices"
	"sync/atomic"

	"github.com/gotribes/tribes/session/delta"
)

// fullCopy returns what DeltaSession.writeExternal writes for s, its full copy
// (Codec.Encode), with java; s.mu is held.
//
// A session received in full may hold a value past java's limits: the map's decoder
// (replmap.Config.Limits) read it, and Codec.Decode keeps the values as they came. Its
// full copy was refused whole then (an error wrapping delta.ErrMessageLimit): a backup
// made primary by a failover published it to no new backup, and each later Replicate
// failed, the session's other values and changes on no other node
// (TestFullCopyLeavesOutAValuePastLimits). Such values are now left out of the full copy
// (each attribute, note and the principal is encoded alone, and left out when that goes
// beyond the limits), the others go, and the values left out are recorded for the
// Manager's next Replicate, which returns an error wrapping delta.ErrMessageLimit naming
// them (takeLeftOut); this node keeps them. When the values are not the cause, the error
// is returned.
//
// A full copy carries the session's values but those it leaves out: the values Diffs
// left out since the last Replicate took them (leaveOut) are in it, and no longer
// reported (TestFullCopyCarriesWhatADiffLeftOut), unless the full copy left them out
// too (its java's limits may be tighter than the session's Limits.Java): those are
// still reported as left out of a diff (TestFullCopyKeepsTheDiffReportOfWhatItLeftOut).
// The values left out are counted in *counted when it is not nil (the Manager's
// Stats.FullCopyValuesLeftOut) as the full copy is made, but for those the previous full
// copy left out too, not yet reported (s.fullOut, which a Replicate takes): the map
// encodes the value of a Put twice (to store it and to publish it), and a full copy made
// again before the report does not leave the value out anew.
//
// A full copy that fails (SessionData refuses the session even without the values past
// the limits alone, as for a value that is not a Java stream) sends nothing: the values
// the previous one left out, not reported yet, stay to be reported (not counted again),
// with those it found past the limits alone (counted as above), and the next Replicate
// names them (TestFailedFullCopyKeepsTheReportOfTheLastOne); before, it forgot them. The
// values Diffs left out stay reported as such: the failed copy carried none. A full copy
// made but whose send fails is reported by that Replicate, and the next one sends the
// session in full again (TestFullCopyAfterAFailedSendReportsAgain).
func (s *Session) fullCopy(java delta.JavaCodec, counted *atomic.Uint64) ([]any, error) {
	s.compactAttrs()
	ext, err := java.SessionData(&s.st)
	before, beforeWhy := s.fullOut, s.fullOutWhy
	var out []leftValue
	var why error
	if errors.Is(err, delta.ErrMessageLimit) {
		why = err
		ext, out, err = s.leaveOutOfFullCopy(java, err)
	}
	notCarried := make(map[leftValue]bool, len(out))
	for _, v := range out {
		notCarried[v] = true
	}
	n := len(out)
	for _, v := range before {
		if notCarried[v] {
			n--
		}
	}
	if counted != nil {
		counted.Add(uint64(n))
	}
	if err != nil {
		// Nothing was sent: what the previous copy left out is still to be reported,
		// with what this one found beyond the limits alone.
		s.fullOut, s.fullOutWhy = before, cmp.Or(beforeWhy, why)
		for _, v := range out {
			if !slices.Contains(before, v) {
				s.fullOut = append(s.fullOut, v)
			}
		}
		if len(s.fullOut) == 0 {
			s.fullOut, s.fullOutWhy = nil, nil
		}
		return nil, err
	}
	s.fullOut, s.fullOutWhy = out, nil
	if len(out) > 0 {
		s.fullOutWhy = why
	}
	s.leftOut = slices.DeleteFunc(s.leftOut, func(v leftValue) bool { return !notCarried[v] })
	if len(s.leftOut) == 0 {
		s.leftOut, s.leftOutWhy = nil, nil
	}
	return ext, nil
}

// leaveOutOfFullCopy is fullCopy of a session java refused (cause): it returns the
// session data without the values past java's limits alone, and those values, also
// when the session data fails without them (its error then returned); s.mu is held.
func (s *Session) leaveOutOfFullCopy(java delta.JavaCodec, cause error) ([]any, []leftValue, error) {
	st := s.st
	var out []leftValue
	fits := func(probe delta.SessionState) bool {
		probe.ID = st.ID
		_, err := java.SessionData(&probe)
		return !errors.Is(err, delta.ErrMessageLimit)
	}
	keep := func(t delta.ActionType, vs []delta.NamedValue, alone func(delta.NamedValue) delta.SessionState) []delta.NamedValue {
		var kept []delta.NamedValue
		for _, v := range vs {
			if fits(alone(v)) {
				kept = append(kept, v)
			} else {
				out = append(out, leftValue{t, v.Name})
			}
		}
		return kept
	}
	st.Attributes = keep(delta.ActionAttribute, st.Attributes, func(v delta.NamedValue) delta.SessionState {
		return delta.SessionState{Attributes: []delta.NamedValue{v}}
	})
	st.Notes = keep(delta.ActionNote, st.Notes, func(v delta.NamedValue) delta.SessionState {
		return delta.SessionState{Notes: []delta.NamedValue{v}}
	})
	if st.Principal != nil && !fits(delta.SessionState{Principal: st.Principal}) {
		st.Principal = nil
		out = append(out, leftValue{delta.ActionPrincipal, namePrincipal})
	}
	if len(out) == 0 {
		return nil, nil, cause
	}
	ext, err := java.SessionData(&st)
	if err != nil {
		return nil, out, err // not these values alone
	}
	return ext, out, nil
}
