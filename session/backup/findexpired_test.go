package backup_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
)

// TestFindExpiredTellsListeners: a session that Find finds expired (a request that comes
// back after the session's max inactive interval, before the sweep ran) is removed, and
// its listeners are told of its expiry, as the sweep tells them: the user's single
// sign-on entry then drops the session, and an entry left without sessions ends. (Found
// when only the sweep told them: removed by Find, the session was never swept, and its
// single sign-on entry kept it and stayed signed on.)
func TestFindExpiredTellsListeners(t *testing.T) {
	ctx := context.Background()
	var ends endLog
	ms := startManagers(t, 2, backup.Config{ExpireInterval: time.Hour, NamedListener: ends.named})
	s := createWithSSO(t, ms[0], time.Second)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the session expired", func() bool { return s.Expired(time.Now()) })
	if got, err := ms[0].Find(ctx, s.ID()); err != nil || got != nil {
		t.Fatalf("Find of the expired session: %v, %v; want none", got, err)
	}
	checkNoneHolds(t, ms, 0, s.ID())
	ends.checkToldExpired(t, s.ID())
}

// TestFindExpiredOnAnotherNode: a request that comes back, after its session expired,
// to a node that holds only a proxy of it (neither its primary nor its backup, before
// their sweeps ran) gets no session: the session is removed everywhere and its listeners
// are told of its expiry. (Found when Find checked the expiry of local copies only: the
// node took the expired session over from its owner and handed it to the request, which
// used it again, its sign-on and data back from the dead.) A copy fetched from another
// node is judged as a backup's, idle for twice its interval: the copy may be a backup's,
// whose times lag.
func TestFindExpiredOnAnotherNode(t *testing.T) {
	ctx := context.Background()
	var ends endLog
	ms := startManagers(t, 3, backup.Config{ExpireInterval: time.Hour, NamedListener: ends.named})
	s := createWithSSO(t, ms[0], time.Second)
	proxy := -1
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a node with a proxy of the session", func() bool {
		for i, m := range ms[1:] {
			if _, _, ok := m.Map().Peek(s.ID()); !ok && slices.Contains(m.Map().Keys(), any(s.ID())) {
				proxy = i + 1
				return true
			}
		}
		return false
	})
	// Every copy idle for twice its interval, the backup's too: the proxy may fetch the
	// backup's, whose last access is when it applied the last diff, a few milliseconds
	// after the primary's (more under load). Waiting for the primary's copy alone, the
	// test called Find as soon as that one was idle for twice its interval, the copy
	// fetched not yet, so rightly taken over as in use (2 runs in 10 under load).
	testutil.EventuallyTrue(t, testutil.WaitLimit, "every copy of the session idle for twice its interval", func() bool {
		for _, m := range ms {
			if v, _, ok := m.Map().Peek(s.ID()); ok {
				if c, ok := v.(*backup.Session); ok && !c.Expired(time.Now().Add(-c.MaxInactive())) {
					return false
				}
			}
		}
		return true
	})
	if got, err := ms[proxy].Find(ctx, s.ID()); err != nil || got != nil {
		t.Fatalf("Find of the expired session on node %d (a proxy): %v, %v; want none", proxy, got, err)
	}
	checkNoneHolds(t, ms, 0, s.ID())
	ends.checkToldExpired(t, s.ID())
}
