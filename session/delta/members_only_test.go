package delta_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// fakeChannel is a delta.Channel driven by hand: the test chooses the members, hands
// messages from any claimed source to the cluster, and sees every send.
type fakeChannel struct {
	members []channel.Member
	ml      []channel.MessageListener
	codec   delta.BinaryCodec

	mu   sync.Mutex
	sent []sent
	// hold, if set, makes sends of EVT_ALL_SESSION_DATA wait until it is closed.
	hold         chan struct{}
	inFlight     atomic.Int32
	peakInFlight atomic.Int32
}

type sent struct {
	to  []channel.Member
	msg *delta.Message
}

func (f *fakeChannel) Send(ctx context.Context, to []channel.Member, data []byte, _ channel.SendOptions) error {
	msg, err := f.codec.DecodeMessage(data)
	if err != nil {
		return err
	}
	if msg.Event == delta.EventAllSessionData && f.hold != nil {
		n := f.inFlight.Add(1)
		for p := f.peakInFlight.Load(); n > p && !f.peakInFlight.CompareAndSwap(p, n); p = f.peakInFlight.Load() {
		}
		select {
		case <-f.hold:
		case <-ctx.Done():
		}
		f.inFlight.Add(-1)
	}
	f.mu.Lock()
	f.sent = append(f.sent, sent{to: to, msg: msg})
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeChannel) Members() []channel.Member { return f.members }

func (f *fakeChannel) Member(key channel.MemberKey) (channel.Member, bool) {
	for _, m := range f.members {
		if m.Key() == key {
			return m, true
		}
	}
	return channel.Member{}, false
}

func (f *fakeChannel) AddMessageListener(l channel.MessageListener) func() {
	f.ml = append(f.ml, l)
	return func() {}
}

func (f *fakeChannel) AddMembershipListener(channel.MembershipListener) func() { return func() {} }

// from hands m to the cluster as if src had sent it.
func (f *fakeChannel) from(t *testing.T, src channel.Member, m *delta.Message) {
	t.Helper()
	data, err := f.codec.AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	raw := &channel.Message{Source: src, Data: data, ID: channel.NewMessageID()}
	for _, l := range f.ml {
		if l.Accept(raw) {
			_ = l.MessageReceived(raw)
		}
	}
}

func (f *fakeChannel) sends() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sent...)
}

func fakeMember(port int32, id byte) channel.Member {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: port, SecurePort: -1, UDPPort: -1}
	m.UniqueID[0] = id
	return m
}

// fakeCluster starts a manager on a fakeChannel whose members are members, with one
// session holding k=v. Its log goes to the returned buffer.
func fakeCluster(t *testing.T, cfg delta.Config, members ...channel.Member) (*fakeChannel, *delta.Cluster, *delta.Manager, *delta.Session, *bytes.Buffer) {
	t.Helper()
	ctx := context.Background()
	f := &fakeChannel{members: members}
	var logs bytes.Buffer
	var mu sync.Mutex
	cl := newCluster(t, f, delta.ClusterConfig{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
	t.Cleanup(func() { _ = cl.Close(ctx) })
	cfg.Name, cfg.SkipStateTransfer = appName, true
	m, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	return f, cl, m, s, &logs
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// A process that is not a member gets no session and changes none, however it asks; its
// refusals are counted and logged once.
func TestNonMemberRefused(t *testing.T) {
	member, stranger := fakeMember(4001, 1), fakeMember(4666, 66)
	f, cl, m, s, logs := fakeCluster(t, delta.Config{}, member)
	before := len(f.sends())
	enc := func(v any) []byte { b, _ := delta.GobCodec{}.Marshal(v); return b }
	id := s.ID()
	msgs := []*delta.Message{
		{Event: delta.EventGetAllSessions, Context: appName, SessionID: "GET-ALL"},
		{Event: delta.EventDelta, Context: appName, SessionID: id, Version: 99,
			Actions: []delta.Action{{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "k", Value: enc("owned")}}},
		{Event: delta.EventChangeSessionID, Context: appName, SessionID: id, NewID: "STOLEN"},
		{Event: delta.EventCreated, Context: appName, SessionID: "INVENTED"},
		{Event: delta.EventExpired, Context: appName, SessionID: id},
		{Event: delta.EventGetAllSessions, Context: "", SessionID: "GET-ALL"}, // every context
		{Event: delta.EventGetAllSessions, Context: "other#/app", SessionID: "GET-ALL"},
	}
	for range 10 {
		for _, msg := range msgs {
			f.from(t, stranger, msg)
		}
	}
	if got := f.sends()[before:]; len(got) != 0 {
		t.Fatalf("%d messages sent for a stranger, the first %v to %v", len(got), got[0].msg.Event, got[0].to)
	}
	if v, _ := s.Get("k"); v != "v" || s.ID() != id || !s.IsValid() || m.Len() != 1 || m.Find("INVENTED") != nil {
		t.Fatalf("session changed by a stranger: k=%v id %s valid %v len %d", v, s.ID(), s.IsValid(), m.Len())
	}
	st, cst := m.Stats(), cl.Stats()
	if cst.RefusedNonMember != uint64(10*len(msgs)) || cst.Messages != 0 || len(st.Received) != 0 || st.SessionsServed != 0 {
		t.Errorf("refused %d, messages %d, received %v, served %d", cst.RefusedNonMember, cst.Messages, st.Received, st.SessionsServed)
	}
	if n := strings.Count(logs.String(), "not a member"); n != 1 {
		t.Errorf("refusal logged %d times, want once per sender:\n%s", n, logs)
	}
	// A member is still heard.
	f.from(t, member, &delta.Message{Event: delta.EventAccessed, Context: appName, SessionID: id})
	if m.Stats().Received[delta.EventAccessed] != 1 {
		t.Error("a member's message was not applied")
	}
}

// A request that names another host (a victim that is not a member, or a member's
// host and port with another identity) makes the node send nothing there; the member's
// own request is answered at the membership's address for it.
func TestForgedTransferRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		member := fakeMember(4001, 1)
		victim := fakeMember(4999, 9)
		impostor := member
		impostor.UniqueID[0] = 2
		f, cl, m, _, _ := fakeCluster(t, delta.Config{}, member)
		before := len(f.sends())
		get := &delta.Message{Event: delta.EventGetAllSessions, Context: appName, SessionID: "GET-ALL"}
		f.from(t, victim, get)
		f.from(t, impostor, get)
		synctest.Wait()
		if got := f.sends()[before:]; len(got) != 0 || cl.Stats().RefusedNonMember != 2 {
			t.Fatalf("forged requests: %d sends, %d refused", len(got), cl.Stats().RefusedNonMember)
		}
		// The member itself, claiming an address of its own (the payload travels with the
		// membership's record, not with what the message says).
		claimed := member
		claimed.Payload = []byte("claimed")
		f.from(t, claimed, get)
		synctest.Wait()
		got := f.sends()[before:]
		if len(got) != 2 || got[0].msg.Event != delta.EventAllSessionData || got[1].msg.Event != delta.EventTransferComplete {
			t.Fatalf("member's request answered with %d messages", len(got))
		}
		for _, s := range got {
			if len(s.to) != 1 || !s.to[0].Equal(member) || len(s.to[0].Payload) != 0 {
				t.Fatalf("transfer sent to %v, want the membership's record of %v", s.to, member)
			}
		}
		if m.Stats().SessionsServed != 1 {
			t.Errorf("served %d sessions", m.Stats().SessionsServed)
		}
	})
}

// Transfers to many members at once run at most MaxConcurrentTransfers at a time, one per
// member; a member asking again meanwhile is refused; every member gets its transfer.
func TestConcurrentTransfersBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const nMembers, limit = 6, 2
		var members []channel.Member
		for i := range nMembers {
			members = append(members, fakeMember(int32(4001+i), byte(i+1)))
		}
		f, _, m, _, logs := fakeCluster(t, delta.Config{MaxConcurrentTransfers: limit}, members...)
		f.hold = make(chan struct{})
		get := &delta.Message{Event: delta.EventGetAllSessions, Context: appName, SessionID: "GET-ALL"}
		for _, mem := range members {
			f.from(t, mem, get)
		}
		synctest.Wait()
		st := m.Stats()
		if st.TransfersActive != limit || st.TransfersWaiting != nMembers-limit || f.inFlight.Load() != limit {
			t.Fatalf("active %d waiting %d in flight %d, want %d, %d, %d", st.TransfersActive, st.TransfersWaiting,
				f.inFlight.Load(), limit, nMembers-limit, limit)
		}
		for range 3 {
			f.from(t, members[0], get)
			f.from(t, members[nMembers-1], get) // waiting for a slot: refused too
		}
		synctest.Wait()
		if st := m.Stats(); st.TransferRequestsRefused != 6 || st.TransfersActive+st.TransfersWaiting != nMembers {
			t.Fatalf("refused %d, active %d, waiting %d", st.TransferRequestsRefused, st.TransfersActive, st.TransfersWaiting)
		}
		if n := strings.Count(logs.String(), "already running"); n != 2 {
			t.Errorf("duplicate requests logged %d times, want once per member", n)
		}
		close(f.hold)
		synctest.Wait()
		st = m.Stats()
		if st.SessionsServed != nMembers || st.TransfersActive != 0 || st.TransfersWaiting != 0 || f.peakInFlight.Load() != limit {
			t.Fatalf("served %d, active %d, waiting %d, peak %d", st.SessionsServed, st.TransfersActive,
				st.TransfersWaiting, f.peakInFlight.Load())
		}
		done := map[channel.MemberKey]int{}
		for _, s := range f.sends() {
			if s.msg.Event == delta.EventTransferComplete {
				done[s.to[0].Key()]++
			}
		}
		for _, mem := range members {
			if done[mem.Key()] != 1 {
				t.Errorf("member %v got %d complete transfers", mem.Port, done[mem.Key()])
			}
		}
	})
}
