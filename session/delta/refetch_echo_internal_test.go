package delta

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// scriptedDonor is a member that records the requests for every session it gets and
// answers only as the test tells it, as a Go member of this version words its answers
// (replyID).
type scriptedDonor struct {
	ch   *channel.Channel
	reqs chan *Message

	mu   sync.Mutex
	from channel.Member // the asker, as this member lists it
}

func startScriptedDonor(t *testing.T, nw *channeltest.Network) *scriptedDonor {
	t.Helper()
	_, ch := nw.StartChannel(t)
	d := &scriptedDonor{ch: ch, reqs: make(chan *Message, 8)}
	ch.AddMessageListener(channel.MessageListenerFunc(func(raw *channel.Message) error {
		msg, err := BinaryCodec{}.DecodeMessage(raw.Data)
		if err != nil || msg.Event != EventGetAllSessions {
			return nil
		}
		d.mu.Lock()
		d.from = raw.Source
		d.mu.Unlock()
		d.reqs <- msg
		return nil
	}))
	return d
}

// answer sends req's asker the chunk sessions (if any) and the end of the transfer at ts.
func (d *scriptedDonor) answer(t *testing.T, req *Message, ts int64, sessions ...SessionState) {
	t.Helper()
	d.mu.Lock()
	to := d.from
	d.mu.Unlock()
	var msgs []*Message
	if len(sessions) > 0 {
		msgs = append(msgs, &Message{Event: EventAllSessionData, Context: req.Context, SessionID: idSessionState,
			UniqueID: replyID(req, ""), Timestamp: ts, Sessions: sessions, Total: len(sessions)})
	}
	msgs = append(msgs, &Message{Event: EventTransferComplete, Context: req.Context, SessionID: idTransferred,
		UniqueID: replyID(req, idTransferred+req.Context), Timestamp: ts})
	for _, msg := range msgs {
		data, err := BinaryCodec{}.AppendMessage(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.ch.Send(context.Background(), []channel.Member{to}, data, transferOpts); err != nil {
			t.Fatalf("sending %s: %v", msg.Event, err)
		}
	}
}

// A refresh (or a repair) asks a member for every session; a request whose wait ended
// (StateTransferTimeout) is asked again by the next round, and the member's late answer
// to the earlier request could arrive during the later one: its "transfer complete"
// ended the later request as if it were its answer, whose sessions, coming after it,
// were dropped, and the member counted as having given its sessions. Every such request
// now carries an id of its own, which the member echoes (AskEcho): the late answer is
// ignored, the later request ends with its own answer.
func TestRefetchIgnoresALateAnswerToAnEarlierRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw, m := startLone(t, Config{StateTransferTimeout: 3 * time.Second, TransferIdleTimeout: -1})
		d := startScriptedDonor(t, nw)
		synctest.Wait()
		members := m.cl.ch.Members()
		if len(members) != 1 {
			t.Fatalf("%d members, want the scripted one", len(members))
		}
		donor := members[0]
		m.lockAttempt() // as a refresh does
		defer m.attemptMu.Unlock()
		m.mu.Lock()
		m.refreshing = true
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			m.refreshing = false
			m.mu.Unlock()
		}()

		type result struct {
			ts  int64
			err error
		}
		refetch := func() <-chan result {
			c := make(chan result, 1)
			go func() {
				ts, err := m.refetch(context.Background(), donor, nil, true)
				c <- result{ts, err}
			}()
			return c
		}
		first := refetch()
		r1 := <-d.reqs // not answered in time
		if r := <-first; !errors.Is(r.err, ErrStateTransferTimeout) {
			t.Fatalf("the first request ended with %v, want %v", r.err, ErrStateTransferTimeout)
		}
		second := refetch()
		r2 := <-d.reqs
		d.answer(t, r1, 1000) // the late answer to the first request
		synctest.Wait()
		const id = "refetched-session"
		d.answer(t, r2, 2000, SessionState{ID: id, CreationTime: nowMs(), LastAccessedTime: nowMs(),
			MaxInactive: 60, Version: 1})
		r := <-second
		if r.err != nil || r.ts != 2000 {
			t.Fatalf("the second request ended with %v at %d, want its own answer's end at 2000", r.err, r.ts)
		}
		if m.st.get(id) == nil {
			t.Errorf("session %s of the second request's answer was not loaded", id)
		}
		// docs/failover.md: "GET-ALL-", the context's name, "#" and a random number.
		prefix := "GET-ALL-" + m.cfg.Name + "#"
		if r2.Version&AskEcho == 0 || r1.UniqueID == r2.UniqueID || !strings.HasPrefix(r1.UniqueID, prefix) ||
			!strings.HasPrefix(r2.UniqueID, prefix) || len(r2.UniqueID) == len(prefix) {
			t.Errorf("requests %q and %q (AskEcho %v): want ids of their own (%s and a number), echoed", r1.UniqueID, r2.UniqueID,
				r2.Version&AskEcho != 0, prefix)
		}
	})
}

// With JavaCodec, which Tomcat reads, a request for every session keeps Tomcat's id,
// "GET-ALL-" and the context's name: Tomcat never sees a request's id of its own.
func TestJavaCodecRequestKeepsTomcatsID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		_, ch := nw.StartChannel(t)
		cl := newCluster(t, ch, ClusterConfig{Codec: JavaCodec{}})
		t.Cleanup(func() { _ = cl.Close(ctx) })
		m, err := cl.NewManager(Config{Name: "localhost#/app", Codec: JavaValueCodec{}, MemberWait: -1, StateTransferTimeout: time.Second,
			TransferIdleTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		_, dch := nw.StartChannel(t)
		ids := make(chan string, 4)
		dch.AddMessageListener(channel.MessageListenerFunc(func(raw *channel.Message) error {
			if msg, err := (JavaCodec{}).DecodeMessage(raw.Data); err == nil && msg.Event == EventGetAllSessions {
				ids <- msg.UniqueID
			}
			return nil
		}))
		synctest.Wait()
		members := m.cl.ch.Members()
		if len(members) != 1 {
			t.Fatalf("%d members, want 1", len(members))
		}
		if _, err := m.refetch(ctx, members[0], nil, true); !errors.Is(err, ErrStateTransferTimeout) {
			t.Fatalf("refetch: %v, want %v", err, ErrStateTransferTimeout)
		}
		if got, want := <-ids, idGetAll+"-"+m.cfg.Name; got != want {
			t.Errorf("the request's uniqueId is %q, want Tomcat's %q", got, want)
		}
	})
}
