package delta_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestCatchUpServedWithTheLeftIDsAskedOnly: a member's catch-up request (AskRecent) is
// answered, through Manager.receive, with the bits servedAsk leaves: the ids a binder's
// renames took a session away from go with AskRecentLeft, and not for a request whose
// age alone reaches AskLeft's bit (a member's bad clock, or a hostile one), which is
// still served as a catch-up. It fails with the request's Version served as it came.
func TestCatchUpServedWithTheLeftIDsAskedOnly(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, withRoute(delta.Config{}, "a"))
	s := create(t, a, "k", "v1")
	old := s.ID()
	if _, err := a.m.ChangeSessionID(ctx, s, sessionhttp.WithRoute(old, "b")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	answers := map[string][][]string{} // per request id, the left ids of each session sent
	done := map[string]bool{}
	r := newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		mu.Lock()
		defer mu.Unlock()
		switch m.Event {
		case delta.EventAllSessionData:
			for i := range m.Sessions {
				if st := &m.Sessions[i]; !st.Removed {
					answers[m.UniqueID] = append(answers[m.UniqueID], delta.LeftIDs(st))
				}
			}
		case delta.EventTransferComplete:
			done[m.UniqueID] = true
		}
	})
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a lists the raw member", func() bool {
		_, ok := a.ch.Member(r.ch.LocalMember().Key())
		return ok
	})
	base := uint64(delta.AskStamps | delta.AskEcho | delta.AskRecent)
	for _, c := range []struct {
		id      string
		version uint64
		want    []string
	}{
		{"GET-ALL-left", base | delta.AskRecentLeft | 60_000<<delta.AskAgeShift, []string{old}},
		{"GET-ALL-none", base | 60_000<<delta.AskAgeShift, nil},
		{"GET-ALL-age", base | uint64(1)<<54<<delta.AskAgeShift, nil}, // the age has bit 62: AskLeft's
	} {
		r.send(t, a.ch.LocalMember(), &delta.Message{Event: delta.EventGetAllSessions, Context: a.m.Name(),
			SessionID: "GET-ALL", UniqueID: c.id, Timestamp: 1, Version: c.version})
		testutil.EventuallyTrue(t, testutil.WaitLimit, c.id+" answered", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return done[c.id]
		})
		mu.Lock()
		got := answers[c.id]
		mu.Unlock()
		if len(got) != 1 || !slices.Equal(got[0], c.want) {
			t.Errorf("%s (%#x): the sessions sent carry left ids %q, want one with %q", c.id, c.version, got, c.want)
		}
	}
}
