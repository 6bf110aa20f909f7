package delta_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestRefreshKeepsChangesNotSent: j (ClusterSize 3, raw Go members p and q) holds S.p at
// version 1 (k=v1, y=v1, z=v1). Cut off, j's request sets k and y and fails (ErrNoQuorum:
// the changes stay pending, stamped (2, j)), and another request sets x, removes z and
// sets the auth type, and has not ended. Meanwhile the majority changed k (version 2,
// stamped (2, p)) but not y. Healed, j refreshes: the members' copy is newer by version.
// j must keep x, z's removal and the auth type (changed here, not sent yet) and y (failed,
// which the majority did not change), and take k=p2 (the majority's acknowledged change
// of that version wins over j's refused one); the next request's delta carries them, not
// k. (The refresh replaced the copy whole and cleared its pending changes: they were lost
// on j, and nothing went out.)
func TestRefreshKeepsChangesNotSent(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	now := time.Now().UnixMilli()
	var p, q *raw
	var mu sync.Mutex
	var deltas []*delta.Message // j's deltas p received
	var healed atomic.Bool      // the members answer with the majority's copy
	state := func() []delta.SessionState {
		version, k := uint64(1), "v1"
		if healed.Load() {
			version, k = 2, "p2"
		}
		st := repairState(now, "S.p", version, k)
		st.Attributes = append(st.Attributes, delta.NamedValue{Name: "y", Value: gobBytes("v1")},
			delta.NamedValue{Name: "z", Value: gobBytes("v1")})
		delta.SetStamp(&st, 0, version, delta.OriginOf(p.ch.LocalMember()))
		delta.SetStamp(&st, 1, 1, delta.OriginOf(p.ch.LocalMember()))
		delta.SetStamp(&st, 2, 1, delta.OriginOf(p.ch.LocalMember()))
		return []delta.SessionState{st}
	}
	answer := func(r **raw) func(*delta.Message, channel.Member) {
		return func(m *delta.Message, src channel.Member) {
			switch m.Event {
			case delta.EventDelta:
				if *r == p {
					mu.Lock()
					deltas = append(deltas, m)
					mu.Unlock()
				}
			case delta.EventGetAllSessions:
				go answerAll(t, *r, src, state())
			}
		}
	}
	p, q = newRaw(t, nw, answer(&p)), newRaw(t, nw, answer(&q))
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 3})
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := j.ch.WaitForMembers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "j serving", func() bool { return j.m.Serving() == nil })
	s := j.m.Find("S.p")
	if got := attrs(j.m, "S.p"); got != "k=v1 y=v1 z=v1 " {
		t.Fatalf("j has %q, want k=v1 y=v1 z=v1", got)
	}

	refreshes := j.m.Stats().QuorumRefreshes
	nw.Isolate(j.tn, p.tn, q.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "j without the quorum", func() bool { return j.m.Serving() != nil })
	_ = s.Set("k", "j failed")
	_ = s.Set("y", "j failed")
	if err := j.m.Replicate(ctx, s); !errors.Is(err, delta.ErrNoQuorum) {
		t.Fatalf("j's change, cut off: %v, want ErrNoQuorum", err)
	}
	_ = s.Set("x", "j running") // a request that has not ended
	_ = s.Remove("z")
	_ = s.SetAuthType("FORM")
	healed.Store(true)
	nw.Heal(j.tn, p.tn)
	nw.Heal(j.tn, q.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "j's refresh", func() bool {
		return j.m.Stats().QuorumRefreshes > refreshes && j.m.Serving() == nil
	})
	if got, st := attrs(j.m, "S.p"), j.m.Stats(); got != "k=p2 x=j running y=j failed " {
		t.Errorf("j, refreshed (sessions refreshed %d), has %q; want k=p2 x=j running y=j failed", st.SessionsRefreshed, got)
	}
	if got := s.AuthType(); got != "FORM" {
		t.Errorf("j, refreshed, has auth type %q, want FORM (set by the running request)", got)
	}

	if err := j.m.Replicate(ctx, s); err != nil { // the running request ends
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var sent []string
	authType := false
	for _, m := range deltas {
		if m.SessionID != "S.p" {
			continue
		}
		if m.Version <= 2 {
			t.Errorf("j's delta has version %d, want above the refreshed copy's 2", m.Version)
		}
		for _, a := range m.Actions {
			if a.Type == delta.ActionAttribute {
				sent = append(sent, a.Name)
			}
			authType = authType || a.Type == delta.ActionAuthType && string(a.Value) == "FORM"
		}
	}
	slices.Sort(sent)
	if !slices.Equal(sent, []string{"x", "y", "z"}) {
		t.Errorf("j's delta after the refresh changed attributes %q, want x, y and z (k: the majority's won)", sent)
	}
	if !authType {
		t.Error("j's delta after the refresh does not set the auth type FORM")
	}
	if got := attrs(j.m, "S.p"); got != "k=p2 x=j running y=j failed " {
		t.Errorf("j, after its delta, has %q; want k=p2 x=j running y=j failed", got)
	}
}

// answerAll sends src every session, sessions, as a member answering its request for
// every session (answerer's answer).
func answerAll(t *testing.T, r *raw, src channel.Member, sessions []delta.SessionState) {
	T := time.Now().UnixMilli()
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T)
	chunk.Sessions = sessions
	for _, msg := range []*delta.Message{chunk, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T)} {
		data, err := r.codec.AppendMessage(nil, msg)
		if err != nil {
			t.Error(err)
			return
		}
		_ = r.ch.Send(context.Background(), []channel.Member{src}, data, channel.OptUseAck|channel.OptSyncAck)
	}
}
