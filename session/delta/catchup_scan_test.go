package delta

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// catchUpAnswer serves, from m, a joiner's catch-up asking for the sessions sent about
// since (unix ms) to a channel of nw that records them, and returns a channel that
// yields the ids of the sessions the answer carried once it is complete.
func catchUpAnswer(t *testing.T, nw *channeltest.Network, m *Manager, since int64) <-chan []string {
	t.Helper()
	return askedAnswer(t, nw, m, AskStamps, since)
}

// askedAnswer is catchUpAnswer for a request with the bits ask (AskBack: a member back).
func askedAnswer(t *testing.T, nw *channeltest.Network, m *Manager, ask uint64, since int64) <-chan []string {
	t.Helper()
	_, jch := nw.StartChannel(t)
	var mu sync.Mutex
	var ids []string
	jch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		dm, err := (BinaryCodec{}).DecodeMessage(msg.Data)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, st := range dm.Sessions {
			if !st.Removed {
				ids = append(ids, st.ID)
			}
		}
		return nil
	}))
	to, ok := m.cl.ch.Member(jch.LocalMember().Key())
	if !ok {
		t.Fatal("the joiner is not a member")
	}
	done := make(chan []string, 1)
	m.wg.Add(1)
	go func() {
		m.serveAll(context.Background(), to, &serve{}, ask, since)
		mu.Lock()
		defer mu.Unlock()
		done <- slices.Clone(ids)
	}()
	return done
}

// A joiner's catch-up asks every member other than its donor for the sessions it sent a
// message about since the joiner started. The member's answer read every session it
// held to find them (a million sessions: 0.2-0.6 s on a loaded 2-core machine, on each
// member, one after the other, while the joiner waits to be ready); it now reads those
// it sent about lately only. The test holds the lock of a session sent about before the
// window while the answer is served: the answer completes without it, with the session
// sent about since.
func TestCatchUpAnswerReadsOnlyTheSessionsSentLately(t *testing.T) {
	nw, m := startLone(t, Config{ExpireInterval: -1})
	var old []*Session
	for range 100 {
		old = append(old, CreateReplicated(t, m))
	}
	// The window starts in a later second than every message sent so far.
	sent := nowMs()
	deadline := time.Now().Add(10 * time.Second)
	for nowMs()/1000 == sent/1000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	since := nowMs()
	recent := CreateReplicated(t, m, "k", 1)

	held := old[len(old)/2]
	held.mu.Lock()
	done := catchUpAnswer(t, nw, m, since)
	select {
	case ids := <-done:
		held.mu.Unlock()
		if !slices.Equal(ids, []string{recent.ID()}) {
			t.Errorf("the catch-up's answer carried %v, want only %s", ids, recent.ID())
		}
	case <-time.After(10 * time.Second):
		held.mu.Unlock()
		<-done
		t.Fatal("the catch-up's answer waited for a session not sent about since the joiner started: it reads every session")
	}
}

// When more sessions were sent about since the joiner started than the log of recent
// sends keeps (maxRecentSent), the answer reads every session instead, and still
// carries each one sent about in the window (Stats.CatchUpScans counts it); a session
// sent about again and again takes one entry a second.
func TestCatchUpAnswerBeyondTheLogReadsEverySession(t *testing.T) {
	defer func(n int) { maxRecentSent = n }(maxRecentSent)
	maxRecentSent = 8
	ctx := context.Background()
	nw, m := startLone(t, Config{ExpireInterval: -1})
	since := nowMs()
	var want []string
	for n := range 3 {
		s, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := s.Set("k", i); err != nil {
				t.Fatal(err)
			}
			if err := m.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		want = append(want, s.ID())
		if got := <-catchUpAnswer(t, nw, m, since); !sameIDs(got, want) {
			t.Fatalf("with %d sessions sent about, the answer carried %v, want %v", n+1, got, want)
		}
	}
	if scans := m.Stats().CatchUpScans; scans != 0 {
		t.Errorf("%d answers read every session while the log covered the window", scans)
	}
	for range maxRecentSent {
		s, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, s.ID())
	}
	if got := <-catchUpAnswer(t, nw, m, since); !sameIDs(got, want) {
		t.Errorf("beyond the log, the answer carried %d sessions, want the %d sent about", len(got), len(want))
	}
	if scans := m.Stats().CatchUpScans; scans != 1 {
		t.Errorf("%d answers read every session, want the one beyond the log", scans)
	}
}

// sameIDs reports whether a and b hold the same ids, in any order.
func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// A session this node sent a message about and another node renamed since (its
// EVT_CHANGE_SESSION_ID applied here) is in the log under its old id only: the answer
// finds it under its new one.
func TestCatchUpAnswerFollowsARenameFromTheCluster(t *testing.T) {
	nw, m := startLone(t, Config{ExpireInterval: -1})
	since := nowMs()
	s := CreateReplicated(t, m)
	old := s.ID()
	m.handleChangeID(context.Background(), &Message{Event: EventChangeSessionID, SessionID: old, NewID: old + "x", Timestamp: nowMs()})
	if s.ID() != old+"x" {
		t.Fatalf("the rename was not applied: %s", s.ID())
	}
	if got := <-catchUpAnswer(t, nw, m, since); !slices.Equal(got, []string{old + "x"}) {
		t.Errorf("the answer carried %v, want the renamed session %s", got, old+"x")
	}
}

// A member still serving a full state transfer to the joiner (an attempt the joiner gave
// up on: a message of it was lost, and it asked the next member) refused the joiner's
// catch-up as a duplicate request, and acknowledged it: the joiner went on without its
// changes. The catch-up, answered inline and small, is now served beside it.
func TestCatchUpServedBesideAFullTransferToTheJoiner(t *testing.T) {
	nw, m := startLone(t, Config{ExpireInterval: -1})
	since := nowMs()
	s := CreateReplicated(t, m)
	_, jch := nw.StartChannel(t)
	got := make(chan string, 16)
	jch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		dm, err := (BinaryCodec{}).DecodeMessage(msg.Data)
		if err != nil {
			return err
		}
		for _, st := range dm.Sessions {
			got <- st.ID
		}
		return nil
	}))
	j, ok := m.cl.ch.Member(jch.LocalMember().Key())
	if !ok {
		t.Fatal("the joiner is not a member")
	}
	m.mu.Lock()
	m.serving[j.Key()] = &serve{} // the full transfer still being served
	m.mu.Unlock()
	age := uint64(nowMs() - since + 1000)
	m.receive(context.Background(), &Message{Event: EventGetAllSessions, Context: m.cfg.Name, SessionID: idGetAll, Timestamp: nowMs(),
		Version: AskStamps | AskRecent | age<<AskAgeShift}, j, 0)
	select {
	case id := <-got:
		if id != s.ID() {
			t.Errorf("the catch-up's answer carried %s, want %s", id, s.ID())
		}
	default:
		t.Errorf("the catch-up was not answered (refused %d requests as duplicates)", m.Stats().TransferRequestsRefused)
	}
}
