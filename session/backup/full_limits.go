package backup

import (
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
// again before the report does not leave the value out anew. A full copy that fails
// forgets the previous one's, and the next counts them again.
func (s *Session) fullCopy(java delta.JavaCodec, counted *atomic.Uint64) ([]any, error) {
	s.compactAttrs()
	ext, err := java.SessionData(&s.st)
	before := s.fullOut
	s.fullOut, s.fullOutWhy = nil, nil
	if errors.Is(err, delta.ErrMessageLimit) {
		ext, err = s.leaveOutOfFullCopy(java, err)
	}
	if err != nil {
		return nil, err
	}
	notCarried := make(map[leftValue]bool, len(s.fullOut))
	for _, v := range s.fullOut {
		notCarried[v] = true
	}
	if counted != nil {
		n := len(s.fullOut)
		for _, v := range before {
			if notCarried[v] {
				n--
			}
		}
		counted.Add(uint64(n))
	}
	s.leftOut = slices.DeleteFunc(s.leftOut, func(v leftValue) bool { return !notCarried[v] })
	if len(s.leftOut) == 0 {
		s.leftOut, s.leftOutWhy = nil, nil
	}
	return ext, nil
}

// leaveOutOfFullCopy is fullCopy of a session java refused (cause): it returns the
// session data without the values past java's limits alone, and records those in
// s.fullOut; s.mu is held.
func (s *Session) leaveOutOfFullCopy(java delta.JavaCodec, cause error) ([]any, error) {
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
		return nil, cause
	}
	ext, err := java.SessionData(&st)
	if err != nil {
		return nil, cause // the values are not the cause
	}
	s.fullOut, s.fullOutWhy = out, cause
	return ext, nil
}
