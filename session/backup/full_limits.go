package backup

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/gotribes/tribes/internal/declimits"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// copyLimits are what a receiver configured alike reads a full copy with: its
// Limits.Java (each value alone, the values' Go forms and count: sessionData) and the
// limits its map decodes the session's stream with (wire: Codec.MapLimits, its
// replmap.Config.Limits).
type copyLimits struct {
	java delta.JavaCodec
	wire jserial.DecoderConfig
}

// fitted returns l with a wire MaxHandles left 0 set to jserial.DefaultMaxHandles, the
// least the receiver's grows to (as fitCodec does for a diff): values that fit together
// then still fit without one of them, as declimits.FirstFit needs.
func (l copyLimits) fitted() copyLimits {
	if l.wire.MaxHandles == 0 {
		l.wire.MaxHandles = jserial.DefaultMaxHandles
	}
	return l
}

// valuesRead returns l with java's MaxArrayLen no more than wire's, and its MaxDepth no
// more than wire's less valueDepth (zero fields are jserial's defaults): java reads each
// value alone (sessionData), and a value within java's limits but past wire's, which
// the receiving map reads every value with inside the session's stream, was sent and
// the map refused the whole stream (FAIL_ACK; mapReads reads the stream only for its
// handles): TestFullCopyWithinTheMapsArrayLenAndDepth. Such a value is now past the
// limits alone, left out as any other.
func (l copyLimits) valuesRead() copyLimits {
	jl := &l.java.Limits
	if n := cmp.Or(l.wire.MaxArrayLen, jserial.DefaultMaxArrayLen); cmp.Or(jl.MaxArrayLen, jserial.DefaultMaxArrayLen) > n {
		jl.MaxArrayLen = n
	}
	if n := max(cmp.Or(l.wire.MaxDepth, jserial.DefaultMaxDepth)-valueDepth, 1); cmp.Or(jl.MaxDepth, jserial.DefaultMaxDepth) > n {
		jl.MaxDepth = n
	}
	return l
}

// valueDepth is how much deeper a value is nested in a session's stream (inside the
// DeltaSession object) than in its own.
const valueDepth = 1

// fullCopy returns what DeltaSession.writeExternal writes for s, its full copy
// (Codec.Encode), with lim; s.mu is held.
//
// A session received in full may hold a value past java's limits: the map's decoder
// (replmap.Config.Limits) read it, and Codec.Decode keeps the values as they came. Its
// full copy was refused whole then (an error wrapping delta.ErrMessageLimit): a backup
// made primary by a failover published it to no new backup, and each later Replicate
// failed, the session's other values and changes on no other node
// (TestFullCopyLeavesOutAValuePastLimits). Such values are now left out of the full copy
// (each attribute, note and the principal is encoded alone, and left out when that goes
// beyond the limits; then values within them alone that a receiver with the same limits
// would refuse together are left out by first fit: TestFullCopyPastLimitsTogether;
// listeners past java's MaxEntries, which such a receiver refuses too, are left out
// alike: TestFullCopyPastMaxEntriesOfListeners; so are the attributes, notes and
// listeners past the handles the receiving map reads the session's stream with, each
// attribute taking a handle for its name and each listener two:
// TestFullCopyPastTheMapsMaxHandles), the
// others go, and the values left out are recorded for the
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
// session in full again (TestFullCopyAfterAFailedSendReportsAgain). The values it
// carried that were reported left out (of a diff, or of the previous full copy) are no
// longer reported once a Replicate sent: a Replicate that fails reports those of the
// full copies made since the last Replicate (here its own full copy's send failed:
// TestFullCopyWhoseSendFailsKeepsTheDiffReport), as they may not have left; before, a
// copy dropped their report as it was made. A ChangeSessionID's Put settles what its own
// copy carried by its own outcome, not the next Replicate's
// (TestRenamePutThatSentSettlesTheCarriedReport: a later failed send no longer reports
// a value the backup holds). The map's other full copies (a republish when a member
// leaves, a reply to a node taking the session over) are settled by the next Replicate.
func (s *Session) fullCopy(lim copyLimits, counted *atomic.Uint64) ([]any, error) {
	s.compactAttrs()
	ext, err := sessionData(lim, &s.st)
	before, beforeWhy := s.fullOut, s.fullOutWhy
	var out []leftValue
	var why error
	if errors.Is(err, delta.ErrMessageLimit) {
		why = err
		ext, out, err = s.leaveOutOfFullCopy(lim, err)
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
		s.fullOut, s.fullOutWhy = appendNew(before, out), cmp.Or(beforeWhy, why)
		if len(s.fullOut) == 0 {
			s.fullOut, s.fullOutWhy = nil, nil
		}
		return nil, err
	}
	// What it carries of the reports is kept until the Replicate learns the send's fate
	// (takeLeftOut).
	var carried []leftValue
	for _, v := range before {
		if !notCarried[v] {
			carried = append(carried, v)
		}
	}
	if len(carried) > 0 {
		s.carriedFull, s.carriedFullWhy = appendNew(s.carriedFull, carried), cmp.Or(s.carriedFullWhy, beforeWhy)
	}
	s.fullOut, s.fullOutWhy = out, nil
	if len(out) > 0 {
		s.fullOutWhy = why
	}
	carried = nil
	s.leftOut = slices.DeleteFunc(s.leftOut, func(v leftValue) bool {
		if !notCarried[v] {
			carried = append(carried, v)
			return true
		}
		return false
	})
	if len(carried) > 0 {
		s.carriedDiff, s.carriedDiffWhy = appendNew(s.carriedDiff, carried), cmp.Or(s.carriedDiffWhy, s.leftOutWhy)
	}
	if len(s.leftOut) == 0 {
		s.leftOut, s.leftOutWhy = nil, nil
	}
	return ext, nil
}

// appendNew appends to vs the values of add it does not hold, in order, in time linear
// in their number.
func appendNew(vs, add []leftValue) []leftValue {
	if len(add) == 0 {
		return vs
	}
	has := make(map[leftValue]bool, len(vs)+len(add))
	for _, v := range vs {
		has[v] = true
	}
	for _, v := range add {
		if !has[v] {
			has[v] = true
			vs = append(vs, v)
		}
	}
	return vs
}

// leaveOutOfFullCopy is fullCopy of a session lim refused (cause): it returns the
// session data without the listeners past java's MaxEntries, nor the values past lim
// alone, nor the attributes, notes and listeners that go past lim together with those
// before them (declimits.FirstFit over the attributes, the notes and the listeners, in
// the session's order, under lim.fitted(): TestFullCopyPastLimitsTogether,
// TestFullCopyPastTheMapsMaxHandles), and the listeners and values left out, also when
// the session data fails without them (its error then returned); s.mu is held.
func (s *Session) leaveOutOfFullCopy(lim copyLimits, cause error) ([]any, []leftValue, error) {
	lim = lim.fitted()
	st := s.st
	var out []leftValue
	// A receiver with java's limits reads at most MaxEntries listeners (their count is
	// refused beyond): the first go, in the session's order, and the others are left out
	// as values are (TestFullCopyPastMaxEntriesOfListeners).
	if n := maxEntries(lim.java); len(st.Listeners) > n {
		for _, l := range st.Listeners[n:] {
			out = append(out, leftValue{delta.ActionListener, l})
		}
		st.Listeners = st.Listeners[:n:n]
	}
	fits := func(probe delta.SessionState) bool {
		probe.ID = st.ID
		_, err := sessionData(lim, &probe)
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
	ext, err := sessionData(lim, &st)
	if errors.Is(err, delta.ErrMessageLimit) {
		// Within the limits alone, not together: first fit of the attributes, notes and
		// listeners, each listener as a name of the stream (its object and ssoId string).
		attrs, notes, listeners := st.Attributes, st.Notes, st.Listeners
		sizes := make([]int, 0, len(attrs)+len(notes)+len(listeners))
		for _, v := range attrs {
			sizes = append(sizes, len(v.Name)+len(v.Value))
		}
		for _, v := range notes {
			sizes = append(sizes, len(v.Name)+len(v.Value))
		}
		for _, l := range listeners {
			sizes = append(sizes, len(l)+listenerBytes)
		}
		with := func(keep []bool) delta.SessionState {
			probe := st
			probe.Attributes, probe.Notes, probe.Listeners = nil, nil, nil
			for i, v := range attrs {
				if keep[i] {
					probe.Attributes = append(probe.Attributes, v)
				}
			}
			for i, v := range notes {
				if keep[len(attrs)+i] {
					probe.Notes = append(probe.Notes, v)
				}
			}
			for i, l := range listeners {
				if keep[len(attrs)+len(notes)+i] {
					probe.Listeners = append(probe.Listeners, l)
				}
			}
			return probe
		}
		kept := declimits.FirstFit(sizes, func(keep []bool) bool {
			probe := with(keep)
			_, err := sessionData(lim, &probe)
			return !errors.Is(err, delta.ErrMessageLimit)
		})
		for i, v := range attrs {
			if !kept[i] {
				out = append(out, leftValue{delta.ActionAttribute, v.Name})
			}
		}
		for i, v := range notes {
			if !kept[len(attrs)+i] {
				out = append(out, leftValue{delta.ActionNote, v.Name})
			}
		}
		for i, l := range listeners {
			if !kept[len(attrs)+len(notes)+i] {
				out = append(out, leftValue{delta.ActionListener, l})
			}
		}
		st = with(kept)
		ext, err = sessionData(lim, &st)
	}
	if len(out) == 0 {
		return nil, nil, cause
	}
	if err != nil {
		return nil, out, err // not these values alone
	}
	return ext, out, nil
}

// listenerBytes is about what a listener takes in a session's stream besides its name
// (a ClusterSingleSignOnListener object and its ssoId string), its size for FirstFit.
const listenerBytes = 8

// sessionData is lim.java.SessionData of st, which reads each value alone with java's
// limits, and also reads the session data whole, as a receiver's Codec.Decode with
// the same limits does (delta.JavaCodec.DecodeSessionData: its values' Go forms take at
// most Limits.MaxBytes together, its attributes are at most MaxEntries), unless st's
// attribute and note values, twice over and with 1 MiB more, are within that (a value's
// Go form is the stream the session holds) and its attributes, notes and listeners
// within MaxEntries (a session with a principal is always read). Values within the
// limits alone that go past them together are refused with an error wrapping
// delta.ErrMessageLimit: before, such a full copy went, every backup refused it
// (FAIL_ACK), and the session was on no other node (TestFullCopyPastLimitsTogether,
// TestFullCopyPastMaxEntries). So is a session whose stream the receiving map's decoder
// refuses (mapReads).
func sessionData(lim copyLimits, st *delta.SessionState) ([]any, error) {
	lim = lim.valuesRead()
	java := lim.java
	ext, err := java.SessionData(st)
	if err != nil {
		return nil, err
	}
	limit := java.Limits.MaxBytes
	if limit <= 0 {
		limit = jserial.DefaultMaxBytes
	}
	if st.Principal != nil || max(len(st.Attributes), len(st.Notes), len(st.Listeners)) > maxEntries(java) ||
		2*(namedBytes(st.Attributes)+namedBytes(st.Notes))+1<<20 > limit {
		if _, err := java.DecodeSessionData(ext); errors.Is(err, jserial.ErrLimit) || errors.Is(err, delta.ErrMessageLimit) {
			return nil, fmt.Errorf("delta: session data: %w: its values together, as a receiver reads them: %w",
				delta.ErrMessageLimit, err)
		}
	}
	if err := mapReads(lim.wire, st, ext); err != nil {
		return nil, err
	}
	return ext, nil
}

// mapReads returns an error wrapping delta.ErrMessageLimit and jserial.ErrLimit when the
// stream of the session st whose data is ext (the DeltaSession object Codec.Encode
// returns) is beyond wire, the limits the receiving map decodes it with (but MaxBytes:
// that is the message's). A map's limits bound the whole stream, one handle table for
// every attribute name and value, note and listener, where java read each value alone:
// a session of 40 listeners went under the map's MaxHandles 50 and its backup refused it
// (FAIL_ACK), holding no copy (TestFullCopyPastTheMapsMaxHandles). The stream is written
// and read only when its handles may be more than wire's MaxHandles (jserial's default,
// at least, for 0): each element taking a handle takes a byte of a value's stream at
// least (handleBound), its values' array lengths and depth were read alone within
// wire's (valuesRead), and a principal of a name and roles only is bounded alike
// (principalBound); a session with another principal is always read. Read for every
// principal, a full copy of a session with one allocated about twice what it did
// (BenchmarkCodecEncodeFullCopy: 245 allocations, 17.9 KB, where 136 and 9.8 KB now).
func mapReads(wire jserial.DecoderConfig, st *delta.SessionState, ext []any) error {
	handles := wire.MaxHandles
	if handles == 0 {
		handles = jserial.DefaultMaxHandles
	}
	if n, ok := principalBound(wire, st.Principal); ok && handleBound(st)+n <= handles {
		return nil
	}
	b, err := jserial.Marshal(&jserial.Object{Class: deltaSessionDesc, External: ext})
	if err != nil {
		return err
	}
	wire.MaxBytes = int64(len(b))
	if _, err := jserial.UnmarshalConfig(b, wire); errors.Is(err, jserial.ErrLimit) {
		return fmt.Errorf("backup: the stream of session %s: %w: as its map reads it (replmap.Config.Limits): %w",
			st.ID, delta.ErrMessageLimit, err)
	} else if err != nil {
		return err
	}
	return nil
}

// handleBound is at least the handles the stream of session st (no principal) takes:
// one per byte of its attribute and note values' streams at most (each element taking
// a handle takes a byte, and written into the session's stream a value shares class
// descriptors with the others, taking no more), one for each name and note, two for
// each listener, and sessionHandles.
func handleBound(st *delta.SessionState) int {
	n := sessionHandles + len(st.Attributes) + len(st.Notes) + 2*len(st.Listeners)
	for _, vs := range [][]delta.NamedValue{st.Attributes, st.Notes} {
		for _, v := range vs {
			n += len(v.Value)
		}
	}
	return n
}

// principalBound is at least the handles the principal p takes in a session's stream,
// 0 for none, and reports whether that bounds them: for a principal of a name and roles
// only (no attributes, user principal or Tomcat's bytes kept: its EncodePrincipal form
// is theirs alone), within wire's MaxArrayLen and nested at most principalDepth deep,
// they are at most principalHandles and one per byte of that form (each role takes a
// byte there at least). For another principal the stream is read (mapReads).
func principalBound(wire jserial.DecoderConfig, p *delta.Principal) (int, bool) {
	if p == nil {
		return 0, true
	}
	if p.Attributes != nil || p.User != nil || len(p.Roles) > cmp.Or(wire.MaxArrayLen, jserial.DefaultMaxArrayLen) ||
		cmp.Or(wire.MaxDepth, jserial.DefaultMaxDepth) < principalDepth {
		return 0, false
	}
	b, err := delta.EncodePrincipal(p)
	if err != nil {
		return 0, false
	}
	simple := uvarintLen(len(p.Name)) + len(p.Name) + uvarintLen(len(p.Roles))
	for _, r := range p.Roles {
		simple += uvarintLen(len(r)) + len(r)
	}
	if len(b) != simple { // Tomcat's bytes kept
		return 0, false
	}
	return principalHandles + len(b), true
}

// uvarintLen is the length of n as a uvarint.
func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// principalHandles is more than the handles a principal of a name and roles only takes
// in a session's stream besides its name and roles (its object, array and class
// descriptors), and principalDepth as deep as it is nested there: TestHandleBound.
const (
	principalHandles = 16
	principalDepth   = 8
)

// sessionHandles is more than the handles the stream of a session without attributes,
// notes, listeners and principal takes (its class descriptors, id, times and flags; the
// listeners' descriptors): TestHandleBound.
const sessionHandles = 64

// maxEntries is java's MaxEntries, or its default for 0.
func maxEntries(java delta.JavaCodec) int {
	if java.MaxEntries <= 0 {
		return delta.DefaultMaxEntries
	}
	return java.MaxEntries
}
