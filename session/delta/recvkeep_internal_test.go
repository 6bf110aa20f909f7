package delta

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// The paths that keep a received message beyond its batch (keepMsg), besides the
// refresh's queue (TestKeptBatchMessagesAreNotReused): each keeps a batch's messages
// while later batches are received into reused arrays (recvArrays), and the kept ones
// must stay as they were.

// keptBatch returns a batch of n deltas of manager name about the sessions first, first+1,
// ..., each setting the attribute "a" to [value i]; creates: each delta creates its
// session (isnew), else it changes one this node may lack.
func keptBatch(t *testing.T, name string, first, n int, value byte, creates bool) []byte {
	t.Helper()
	msgs := make([]*Message, n)
	for i := range msgs {
		acts := []Action{{Type: ActionAttribute, Op: OpSet, Name: "a", Value: []byte{value, byte(i)}}}
		if creates {
			acts = append([]Action{{Type: ActionIsNew, Op: OpSet, Name: nameIsNew, Value: []byte{1}}}, acts...)
		}
		msgs[i] = &Message{Event: EventDelta, Context: name, SessionID: fmt.Sprintf("%032X.peer", first+i),
			Timestamp: nowMs(), Version: 2, Actions: acts}
	}
	data, err := BinaryCodec{}.appendBatch(nil, msgs)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// checkKept fails unless q holds, in order, the n deltas keptBatch(first, n, value,
// false) made.
func checkKept(t *testing.T, what string, q []queued, first, n int, value byte) {
	t.Helper()
	if len(q) != n {
		t.Fatalf("%s: %d messages kept, want %d", what, len(q), n)
	}
	for i, e := range q {
		want := fmt.Sprintf("%032X.peer", first+i)
		if e.msg.SessionID != want || e.msg.Event != EventDelta || e.msg.Version != 2 || len(e.msg.Actions) != 1 ||
			e.msg.Actions[0].Name != "a" || string(e.msg.Actions[0].Value) != string([]byte{value, byte(i)}) {
			t.Errorf("%s: message %d is %s %q v%d with %+v, want the delta of %s setting a to [%d %d]",
				what, i, e.msg.Event, e.msg.SessionID, e.msg.Version, e.msg.Actions, want, value, i)
		}
	}
}

// applyLater has the cluster of m receive 8 batches of 4 deltas of m that create
// sessions, applied at once, and checks that they were.
func applyLater(t *testing.T, m *Manager, src channel.Member, before int) {
	t.Helper()
	for k := range 8 {
		if err := m.cl.receiveListed(context.Background(), src, keptBatch(t, m.cfg.Name, 100+10*k, 4, 2, true)); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Stats().ActiveSessions; got != before+32 {
		t.Fatalf("%d sessions after the later batches, want %d", got, before+32)
	}
}

// A manager still transferring queues what arrives (Manager.queue).
func TestKeptBatchMessagesAreNotReusedInTheTransferQueue(t *testing.T) {
	nw, m := startLone(t, Config{})
	_, peer := nw.StartChannel(t)
	src := peer.LocalMember()
	m.mu.Lock()
	m.state = stateTransferring
	m.mu.Unlock()
	if err := m.cl.receiveListed(context.Background(), src, keptBatch(t, m.cfg.Name, 0, 4, 1, false)); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.state = stateRunning
	m.mu.Unlock()
	applyLater(t, m, src, 0)
	m.mu.Lock()
	defer m.mu.Unlock()
	checkKept(t, "transfer queue", m.queue, 0, 4, 1)
	clear(m.queue)
	m.queue = m.queue[:0]
}

// A running manager holds the deltas about sessions it lacks for a repair (liveRepair.held)
// while the deltas after them that create their sessions are applied.
func TestKeptBatchMessagesAreNotReusedInARepairHold(t *testing.T) {
	defer SetRepairSettle(time.Hour)() // no round asks the peer during the test
	nw, m := startLone(t, Config{})
	_, peer := nw.StartChannel(t)
	src := peer.LocalMember()
	if err := m.cl.receiveListed(context.Background(), src, keptBatch(t, m.cfg.Name, 0, 4, 1, false)); err != nil {
		t.Fatal(err)
	}
	applyLater(t, m, src, 0)
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	if m.live == nil {
		t.Fatal("no repair holds the deltas about sessions this node lacks")
	}
	checkKept(t, "repair hold", m.live.held, 0, 4, 1)
}

// A message naming no context goes to every manager: one refreshing keeps it, another
// applies it, and the batch's arrays are not reused.
func TestKeptByOneManagerOfMany(t *testing.T) {
	nw, m := startLone(t, Config{})
	other, err := m.cl.NewManager(Config{Name: "localhost#/other", MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(context.Background()); err != nil { // alone: no state transfer
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Stop(context.Background()) })
	_, peer := nw.StartChannel(t)
	src := peer.LocalMember()
	m.mu.Lock()
	m.refreshing = true
	m.mu.Unlock()
	if err := m.cl.receiveListed(context.Background(), src, keptBatch(t, "", 0, 4, 1, true)); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.refreshing = false
	m.mu.Unlock()
	if got := other.Stats().ActiveSessions; got != 4 {
		t.Fatalf("the other manager holds %d sessions, want the 4 the batch created", got)
	}
	applyLater(t, m, src, 0)
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.refreshQueue
	if len(q) != 4 {
		t.Fatalf("%d messages queued, want 4", len(q))
	}
	for i, e := range q {
		if e.msg.SessionID != fmt.Sprintf("%032X.peer", i) || len(e.msg.Actions) != 2 ||
			string(e.msg.Actions[1].Value) != string([]byte{1, byte(i)}) {
			t.Errorf("queued message %d is %q with %+v, want the creation of session %d setting a to [1 %d]",
				i, e.msg.SessionID, e.msg.Actions, i, i)
		}
	}
	clear(m.refreshQueue)
	m.refreshQueue = m.refreshQueue[:0]
}

// A refresh's queued message may be held for a repair when the refresh replays it, on
// the refresh's goroutine, while the receive that queued it has not read Message.kept
// yet: keepMsg writes kept once only. Under -race, this failed when it wrote it each time
// (a write on the replay's goroutine, the receive's read, neither before the other).
func TestKeepingAKeptMessageAgainIsNoRace(t *testing.T) {
	defer SetRepairSettle(time.Hour)() // no round asks the peer during the test
	ctx := context.Background()
	nw, m := startLone(t, Config{})
	_, peer := nw.StartChannel(t)
	src := peer.LocalMember()
	m.mu.Lock()
	m.refreshing = true
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { // the refresh ending as soon as a message waits, replaying it (runRefresh)
		defer close(done)
		var q []queued
		for len(q) == 0 {
			m.mu.Lock()
			if q = m.refreshQueue; len(q) > 0 {
				m.refreshQueue, m.refreshing = nil, false
			}
			m.mu.Unlock()
			runtime.Gosched()
		}
		for _, e := range q {
			m.replayRefreshed(e) // a delta about a session m lacks: held for a repair
		}
	}()
	if err := m.cl.receiveListed(ctx, src, keptBatch(t, m.cfg.Name, 0, 1, 1, false)); err != nil {
		t.Fatal(err)
	}
	<-done
	applyLater(t, m, src, 0)
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	if m.live == nil {
		t.Fatal("the replayed delta about a session this node lacks is not held for a repair")
	}
	checkKept(t, "repair hold after the refresh", m.live.held, 0, 1, 1)
}
