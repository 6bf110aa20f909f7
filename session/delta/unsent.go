package delta

import "errors"

// A change of this node whose delta failed is put back (restore) and goes out with the
// next delta. How it settles against another node's change of the same attribute or
// other part, at the failed delta's version or later, depends on where that delta went:
//
//   - refused before any send (no quorum, no member, the codec's refusal, no member that
//     could be connected to) or, with BinaryCodec, refused by every member it was sent
//     to that could be connected to (FAIL_ACK, which a Go node answers only before
//     applying a message: send.go's judge, TestFailAckedChangeLosesToTheMajoritysDelta):
//     nobody else holds the change. It gives way to any other node's change at its version or later,
//     whatever the origins, wherever the two meet (a delta arriving, a refresh's merge
//     or load): in a partition, the majority's acknowledged change wins over the refused
//     change of the node cut off, made from the same version
//     (TestRefusedChangeLosesToTheMajoritysDelta, TestRefreshMergeDropsARefusedChange).
//     Dropping it converges. A transfer or a catch-up's answer from this node carries it
//     stamped with origin 0 (yieldUnsent), so that the node it goes to keeps any other
//     change at its version too (TestMemberBackAnswerCarriesNoRefusedChange; a joiner
//     whose transfer carried one merges one more member's sessions: transfer_unsent.go); coming
//     back so, it is not taken for another node's change
//     (TestRefusedChangeEchoedBackStaysPending).
//   - sent, its outcome failed (an ACK missing or late, a member's refusal while
//     another took it or may have, a send error): some members may hold it. It goes by its stamp everywhere, as those
//     members do, or this node would drop what they keep
//     (TestFailedDeltaThatReachedAMemberConvergesAfterARefresh).
//
// A change put back once after a send, then refused, stays one that may have been sent.

// unsentError is the error of a message that never left this node.
type unsentError struct{ err error }

func (e *unsentError) Error() string { return e.err.Error() }
func (e *unsentError) Unwrap() error { return e.err }

// notSent marks err, nil or not, as the failure of a message that never left this node.
func notSent(err error) error {
	if err == nil {
		return nil
	}
	return &unsentError{err}
}

// neverSent reports whether err is the failure of a message that never left this node.
func neverSent(err error) bool {
	var u *unsentError
	return errors.As(err, &u)
}

// yieldsTo reports whether this node's change of the part typ, name (an attribute or
// another), stamped mine, is a failed one refused before any send (a pending action
// marked unsent) that another node's change stamped st replaces: st is of its version
// or later, but not a change refused too, as a transfer or a catch-up's answer stamps
// one (origin 0 at its version: shippedUnsent), which may be this very change come back
// (TestRefusedChangeEchoedBackStaysPending). The caller holds s.mu.
func (s *Session) yieldsTo(typ ActionType, name string, mine, st stamp) bool {
	if st == mine || st.version < mine.version || shippedUnsent(st, mine) {
		return false
	}
	for _, p := range s.pending {
		if p.Type == typ && p.Name == name {
			return p.unsent
		}
	}
	return false
}

// shippedUnsent reports whether st is the stamp a transfer or a catch-up's answer gives a
// change refused before any send whose version is mine's (yieldUnsent): such a change
// does not replace a refused change of this node, which may be the same one.
func shippedUnsent(st, mine stamp) bool {
	return st.origin == 0 && st.version == mine.version
}
