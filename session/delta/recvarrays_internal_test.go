package delta

import (
	"context"
	"fmt"
	"testing"
)

// A received batch is decoded into arrays the cluster reuses for the next batch
// (recvArrays), but only when none of its messages was kept for later: the deltas a
// refresh queues keep their ids and values while later batches arrive and are applied.
func TestKeptBatchMessagesAreNotReused(t *testing.T) {
	ctx := context.Background()
	nw, m := startLone(t, Config{})
	_, peer := nw.StartChannel(t)
	src := peer.LocalMember()
	batch := func(first int, value byte, creates bool) []byte {
		t.Helper()
		msgs := make([]*Message, 4)
		for i := range msgs {
			acts := []Action{{Type: ActionAttribute, Op: OpSet, Name: "a", Value: []byte{value, byte(i)}}}
			if creates {
				acts = append([]Action{{Type: ActionIsNew, Op: OpSet, Name: "__SET__ISNEW__", Value: []byte{1}}}, acts...)
			}
			msgs[i] = &Message{Event: EventDelta, Context: m.cfg.Name, SessionID: fmt.Sprintf("%032X.peer", first+i),
				Timestamp: nowMs(), Version: 1, Actions: acts}
		}
		data, err := BinaryCodec{}.appendBatch(nil, msgs)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	m.mu.Lock()
	m.refreshing = true // what arrives now waits for the refresh (refreshQueue)
	m.mu.Unlock()
	if err := m.cl.receiveListed(ctx, src, batch(0, 1, false)); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	m.refreshing = false
	m.mu.Unlock()
	for k := range 8 { // applied at once, each creating four sessions
		if err := m.cl.receiveListed(ctx, src, batch(100+10*k, 2, true)); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.Stats().ActiveSessions; got != 32 {
		t.Fatalf("%d sessions after the later batches, want 32", got)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.refreshQueue) != 4 {
		t.Fatalf("%d messages queued, want the first batch's 4", len(m.refreshQueue))
	}
	for i, q := range m.refreshQueue {
		want := fmt.Sprintf("%032X.peer", i)
		if q.msg.SessionID != want || q.msg.Event != EventDelta || len(q.msg.Actions) != 1 ||
			q.msg.Actions[0].Name != "a" || string(q.msg.Actions[0].Value) != string([]byte{1, byte(i)}) {
			t.Errorf("queued message %d is %s %q with %+v, want the delta of %s setting a to [1 %d]",
				i, q.msg.Event, q.msg.SessionID, q.msg.Actions, want, i)
		}
	}
	clear(m.refreshQueue)
	m.refreshQueue = m.refreshQueue[:0]
}
