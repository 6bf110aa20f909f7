package delta

import (
	"context"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
)

// A donor ships a change of its own that was refused before any send (unsent.go) stamped
// with origin 0 at its version (yieldUnsent): the joiner takes it over older values but
// keeps any other node's change at its version or later. A donor that was cut off when
// it made the change (its delta refused, its view not yet refreshed) lacks the change
// the majority made meanwhile, which may be older than the joiner: its catch-up asks the
// other members only for what they sent since it started, and the joiner kept the
// refused value, unlike every other member, until the part next changed. So a joiner
// whose transfer carried such a value asks one more member (the first other than the
// donor that gives its sessions) for every session once its catch-up is over, and merges
// them as a refresh does (mergeSessions: by version and by their stamps, with the
// member's records of removals and renames): the majority's change at that version or
// later wins over the refused one (TestJoinerFromACutOffDonorTakesTheMajoritysValue).
// The donor says how many of the sessions it sent carried one, in the Version of its
// EVT_ALL_SESSION_TRANSFERCOMPLETE (1 + their number; serveAll): a donor whose channel
// does not tell its local member stamps every change of its own with origin 0, and its
// joiner took each for a refused one, asking for a second transfer on every join
// (TestJoinerFromADonorWithoutIdentityAsksOnce; one that was cut off is still followed by
// one: TestJoinerFromACutOffDonorWithoutIdentityTakesTheMajoritysValue). A donor of an
// earlier version says nothing (0), and the joiner counts the sessions carrying a change
// stamped origin 0 at a version (carriesRefused) as before
// (TestJoinerFromAnOlderCutOffDonorTakesTheMajoritysValue).
// Every session is merged, not only those that carried a refused change: the majority
// may have renamed one, and its record of the rename would remove the copy under the old
// id while the session under its new id was left out. That member sends every session,
// as a donor does (the protocol has no request for some sessions), so this costs a
// second transfer; it happens only when the donor held refused changes.

// carriesRefused reports whether st, a transferred session, carries a change stamped
// with origin 0 at a version: one refused before any send on its donor (yieldUnsent).
func carriesRefused(st *SessionState) bool {
	zero := func(s stamp) bool { return s.version > 0 && s.origin == 0 }
	return slices.ContainsFunc(st.Attributes, func(nv NamedValue) bool { return zero(stamp{nv.version, nv.origin}) }) ||
		slices.ContainsFunc(st.tombs, func(t tomb) bool { return zero(t.st) }) ||
		slices.ContainsFunc(st.meta, func(m metaStamp) bool { return zero(m.st) })
}

// askPastUnsent asks, once a joiner's catch-up with donor is over, one more member for
// every session and merges them, when the transfer carried a value refused on donor (see
// above). It returns the error that ends the transfer (deadline, stop); a member
// that does not give its sessions is passed over for the next.
func (m *Manager) askPastUnsent(ctx context.Context, donor channel.Member, deadline <-chan time.Time) error {
	n := m.shipped.Swap(0)
	if told := m.toldRefused.Swap(0); told > 0 {
		n = int64(told - 1) // the donor's word: it knows which of its changes were refused
	}
	if n == 0 {
		return nil
	}
	for _, mem := range m.cl.ch.Members() {
		if mem.Key() == donor.Key() {
			continue
		}
		sig := make(chan transferSignal, 2) // as runTransfer's
		id, ok := m.beginMerge(mem, sig)
		if !ok {
			return ErrStopped
		}
		last := TransferAttempt{Donor: mem}
		_, err := m.awaitTransfer(ctx, m.asker(ctx, mem, true, id), sig, deadline, time.Time{},
			func() bool { return true }, &last)
		m.endAttempt()
		if err != nil {
			return err
		}
		if last.Err == nil {
			m.log.Info("delta: the donor's transfer carried changes refused on it; merged another member's sessions",
				"donor", donor.Addr(), "member", mem.Addr(), "refusedIn", n)
			return nil
		}
		m.log.Info("delta: a member did not give its sessions for those whose changes were refused on the donor",
			"member", mem.Addr(), "err", last.Err)
	}
	m.log.Warn("delta: the donor's transfer carried changes refused on it, and no other member gave its sessions: "+
		"those values stay until they next change", "donor", donor.Addr(), "refusedIn", n)
	return nil
}
