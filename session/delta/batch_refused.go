package delta

import (
	"context"
	"errors"

	"github.com/gotribes/tribes/channel"
)

// A member whose codec limits are lower than this node's answers FAIL_ACK to a batch
// holding one message past them (limits.go): the whole batch fails there, and without
// more every request whose delta was in it would fail with it, and again each time it
// shared a batch with that message. So a batch that failed only because members refused
// it goes to those members again in halves, the half they refuse again in halves, down
// to the message they refuse: that message's call alone gets the error, and the others
// succeed, every member holding them (TestLowerLimitsRefuseOnlyTheChangePastThem). If
// they refuse both halves (more than one message, or every one: a member that does not
// list this node yet answers FAIL_ACK too) or a resend fails otherwise, the calls of the
// messages left get that error, and those of the halves taken succeed
// (TestBatchPartlyRefusedByEveryMemberKeepsWhatWentOut: they got it too, and judge took
// them for messages no member took when every member refused the batch). Both halves
// failing again, but one not refused by every member that refused the batch (nor
// failing to connect to them), the calls get that half's failure, which names only the
// members that did not take it: the others hold it
// (TestBatchRefusedByAllThenTakenByOneCountsAsSent: the batch's refusal by every member,
// or a half's refusal and connect failures naming every member, went to every call, and
// judge took the messages for ones no member took). That costs at most two sends per
// halving, only after a refusal.

// isolateRefused handles err, the failure of the batch msgs (at least two), and returns
// the outcome of the calls whose messages it does not put in *refused.
func (m *Manager) isolateRefused(ctx context.Context, bc batchCodec, msgs []*Message, err error, refused *refusedSet) error {
	refusers := refusedBy(err)
	if refusers == nil {
		return err
	}
	whole := len(msgs)
	for len(msgs) > 1 {
		h := len(msgs) / 2
		lo, hi := msgs[:h], msgs[h:]
		errLo := m.transmitBatch(ctx, bc, refusers, lo, refused)
		errHi := m.transmitBatch(ctx, bc, refusers, hi, refused)
		switch {
		case errLo == nil && errHi == nil:
			return nil // refused no more: every member holds them now
		case errLo != nil && errHi != nil && len(msgs) == whole:
			// Every call gets the outcome: the failure of a half that may have reached
			// them, else a refusal of a half that names fewer members than refused the
			// batch (the others took it: the outcome must not be one judge takes for a
			// message no member took), else the refusal by each member.
			for _, e := range []error{errLo, errHi} {
				if refusedBy(e) == nil && !takenByNone(len(refusers), e, true) {
					return e
				}
			}
			for _, e := range []error{errLo, errHi} {
				if len(channel.FaultyMembers(e)) < len(refusers) {
					return e
				}
			}
			return err
		case errLo != nil && errHi != nil:
			// The others went to every member: only these get err (not the batch's
			// outcome, which judge would take for one no member took).
		case errLo != nil:
			msgs, err = lo, errLo
		default:
			msgs, err = hi, errHi
		}
		if errLo != nil && errHi != nil || refusedBy(err) == nil {
			break
		}
	}
	if *refused == nil {
		*refused = refusedSet{}
	}
	for _, msg := range msgs {
		if (*refused)[msg] == nil {
			(*refused)[msg] = err
		}
	}
	return nil
}

// refusedBy returns the members that err, a send's failure, names if every one of them
// answered FAIL_ACK; nil otherwise.
func refusedBy(err error) []channel.Member {
	faulty := channel.FaultyMembers(err)
	if len(faulty) == 0 {
		return nil
	}
	members := make([]channel.Member, 0, len(faulty))
	for _, f := range faulty {
		if !errors.Is(f.Err, channel.ErrAckFailed) {
			return nil
		}
		members = append(members, f.Member)
	}
	return members
}
