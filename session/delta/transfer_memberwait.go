package delta

import (
	"context"
	"time"

	"github.com/gotribes/tribes/channel"
)

// awaitMember waits until a member is added (true), until (false), or the transfer's
// deadline or the manager's end (an error for the StateTransferError). asked is how many
// members were asked already: its log line says no other member is left to ask then, not
// that there is none (TestUnreachableDonorIsLogged).
func (m *Manager) awaitMember(ctx context.Context, until time.Time, deadline <-chan time.Time, asked int) (bool, error) {
	began := time.Now()
	defer func() { m.stats.memberWaitNanos.Add(int64(time.Since(began))) }()
	upTo := time.Until(until).Round(time.Millisecond)
	if asked > 0 {
		m.log.Info("delta: no other member to ask for the sessions; waiting for one to be added", "asked", asked, "upTo", upTo)
	} else {
		m.log.Info("delta: no member to ask for the sessions yet; waiting for one", "upTo", upTo)
	}
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-m.joined:
		return true, nil
	case <-t.C:
		return false, nil
	case <-deadline:
		return false, ErrStateTransferTimeout
	case <-ctx.Done():
		return false, ErrStopped
	}
}

// memberAdded wakes a start waiting for a member (Config.MemberWait), and has a joiner's
// late catch-up ask mem (catchup_late.go).
func (m *Manager) memberAdded(mem channel.Member) {
	select {
	case m.joined <- struct{}{}:
	default:
	}
	if l := m.late.Load(); l != nil {
		l.added(mem.Key())
	}
	m.memberBack(mem.Key())
	m.noteView()
}
