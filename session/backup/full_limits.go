package backup

import (
	"errors"
	"fmt"

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
// A full copy carries every value of the session: the values Diffs left out since the
// last Replicate took them (leaveOut) are in it, and no longer reported
// (TestFullCopyCarriesWhatADiffLeftOut).
func (s *Session) fullCopy(java delta.JavaCodec) ([]any, error) {
	ext, err := java.SessionData(&s.st)
	s.fullOut, s.fullOutWhy = nil, nil
	if errors.Is(err, delta.ErrMessageLimit) {
		ext, err = s.leaveOutOfFullCopy(java, err)
	}
	if err != nil {
		return nil, err
	}
	s.leftOut, s.leftOutWhy = nil, nil
	return ext, nil
}

// leaveOutOfFullCopy is fullCopy of a session java refused (cause): it returns the
// session data without the values past java's limits alone, and records those in
// s.fullOut; s.mu is held.
func (s *Session) leaveOutOfFullCopy(java delta.JavaCodec, cause error) ([]any, error) {
	st := s.st
	var out []string
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
				out = append(out, fmt.Sprintf("%s %.64q", t, v.Name))
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
		out = append(out, delta.ActionPrincipal.String())
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
