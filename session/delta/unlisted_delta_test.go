package delta_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// startJavaSender starts a ready Go node of a JavaCodec cluster on nw that replicates
// with mode: it stands for a Tomcat member that lists the other nodes before they list it.
func startJavaSender(t *testing.T, nw *channeltest.Network, route string, mode delta.ReplicationMode) (*channel.Channel, *delta.Manager) {
	t.Helper()
	_, ch := newChannel(t, nw)
	m := startJoiner(t, ch, delta.ClusterConfig{Codec: delta.JavaCodec{}},
		delta.Config{JvmRoute: route, MemberWait: -1, Codec: delta.JavaValueCodec{}, Replication: mode})
	if err := m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ch, m
}

// changeAndReplicate creates a session holding k=v on m, or sets k=v in s, and
// replicates it.
func changeAndReplicate(t *testing.T, m *delta.Manager, s *delta.Session, v int) (*delta.Session, error) {
	t.Helper()
	if s == nil {
		var err error
		if s, err = m.Create(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set("k", v); err != nil {
		t.Fatal(err)
	}
	return s, m.Replicate(context.Background(), s)
}

// valueOn returns k's value in the session id on m, or -1 without one.
func valueOn(m *delta.Manager, id string) any {
	s := m.Find(id)
	if s == nil {
		return -1
	}
	v, _ := s.Get("k")
	return v
}

// A Tomcat member lists the Go node before the Go node lists it, and sends its changes
// once, asynchronously (Tomcat's default channelSendOptions): a session's creation, its
// first attribute and two changes of it. The Go node holds them and applies them, in the order they came,
// once it lists the sender two seconds later; before, they were refused and lost, and a
// client moving to the Go node found no session (then a stale one).
func TestChangesOfAMemberNotListedYetAppliedOnceListed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		sch, sm := startJavaSender(t, nw, "tc1", delta.ReplicateAsync)
		view, cl, m, _ := startLaggingDonor(t, nw, 0)

		s, err := changeAndReplicate(t, sm, nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		for v := 2; v <= 3; v++ {
			if _, err := changeAndReplicate(t, sm, s, v); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if st := cl.Stats(); st.UnlistedHeld != 4 || m.Find(s.ID()) != nil {
			t.Fatalf("before the Go node lists the sender: %d held, session found %v; want 4 held, none", st.UnlistedHeld,
				m.Find(s.ID()) != nil)
		}

		time.Sleep(2 * time.Second) // the Go node's membership lags
		view.list(sch.LocalMember())
		synctest.Wait()
		if v := valueOn(m, s.ID()); v != 3 {
			t.Fatalf("once the sender is listed: k = %v on the Go node, want 3", v)
		}
		if st := cl.Stats(); st.UnlistedApplied != 4 || st.UnlistedHeld != 0 || st.UnlistedDropped != 0 {
			t.Errorf("applied %d held messages, %d still held, %d dropped; want 4, 0, 0",
				st.UnlistedApplied, st.UnlistedHeld, st.UnlistedDropped)
		}
		if _, err := changeAndReplicate(t, sm, s, 4); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if v := valueOn(m, s.ID()); v != 4 {
			t.Errorf("a change once listed: k = %v, want 4", v)
		}
	})
}

// A member that replicates with a synchronized ack (Tomcat's channelSendOptions 6,
// ReplicateAcked) gets its ACK once the Go node, listing it two seconds later, applied
// its change, and the change is there when the send returns; a sender the Go node does
// not list within the wait gets FAIL_ACK (for the session's creation, then for the
// attribute's delta, each held in turn), and its change is not applied. Before, both
// got FAIL_ACK at once and the first change was lost too.
func TestAckedChangeOfAMemberNotListedYetAckedOnceApplied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		sch, sm := startJavaSender(t, nw, "tc1", delta.ReplicateAcked)
		_, lm := startJavaSender(t, nw, "tc2", delta.ReplicateAcked) // listed too late
		view, cl, m, _ := startLaggingDonor(t, nw, 0)

		type result struct {
			id  string
			v   any // k on the Go node when the send returned
			err error
		}
		replicate := func(sm *delta.Manager) <-chan result {
			out := make(chan result, 1)
			go func() {
				s, err := changeAndReplicate(t, sm, nil, 7)
				out <- result{s.ID(), valueOn(m, s.ID()), err}
			}()
			return out
		}
		got, late := replicate(sm), replicate(lm)
		synctest.Wait()
		select {
		case r := <-got:
			t.Fatalf("the acked send returned before the sender was listed: %v", r.err)
		default:
		}
		if st := cl.Stats(); st.UnlistedHeld != 2 {
			t.Fatalf("%d held, want 2", st.UnlistedHeld)
		}

		time.Sleep(2 * time.Second)
		view.list(sch.LocalMember())
		r := <-got
		if r.err != nil || r.v != 7 {
			t.Fatalf("the sender listed within the wait: send %v, k = %v on the Go node when it returned; want nil, 7", r.err, r.v)
		}

		r = <-late // the wait ends
		if !errors.Is(r.err, channel.ErrAckFailed) || valueOn(m, r.id) != -1 {
			t.Fatalf("the sender not listed within the wait: send %v, k = %v; want ErrAckFailed, no session", r.err, valueOn(m, r.id))
		}
		if st := cl.Stats(); st.UnlistedApplied != 1 || st.UnlistedDropped != 2 || st.UnlistedHeld != 0 {
			t.Errorf("applied %d, dropped %d, held %d; want 1, 2, 0", st.UnlistedApplied, st.UnlistedDropped, st.UnlistedHeld)
		}
	})
}

// injectWith is lagging.inject with send options.
func (l *lagging) injectWith(src channel.Member, data []byte, opts channel.SendOptions) error {
	l.mu.Lock()
	ls := slices.Clone(l.msgl)
	l.mu.Unlock()
	raw := &channel.Message{Source: src, Data: data, ID: channel.NewMessageID(), Options: opts}
	for _, ml := range ls {
		if ml.Accept(raw) {
			return ml.MessageReceived(raw)
		}
	}
	return errors.New("no listener accepted the message")
}

// At most 4 synchronized-ack messages of senders not listed keep their receive (a
// transport worker) waiting: a fifth of a new sender evicts the oldest, which gets
// FAIL_ACK at once, and the four get FAIL_ACK once the wait ends. The messages held take
// at most 1 MiB in all.
func TestUnlistedWaitingReceivesAndBytesBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, _, _ := startLaggingDonor(t, nw, 0)
		req := getAll(t)

		errs := make(chan error, 5)
		for i := range 5 {
			go func() {
				errs <- view.injectWith(fakeMember(int32(6000+i), byte(i)), req, channel.OptUseAck|channel.OptSyncAck)
			}()
		}
		synctest.Wait()
		if n := len(errs); n != 1 {
			t.Fatalf("%d of 5 waiting receives returned at once, want 1 (the oldest, evicted by the fifth)", n)
		}
		if err := <-errs; !errors.Is(err, channel.ErrNotMember) {
			t.Fatalf("the evicted one: %v, want ErrNotMember", err)
		}
		time.Sleep(delta.DefaultUnlistedRequestWait)
		synctest.Wait()
		for range 4 {
			if err := <-errs; !errors.Is(err, channel.ErrNotMember) {
				t.Fatalf("a waiting receive once the wait ended: %v, want ErrNotMember", err)
			}
		}

		big := append(slices.Clone(req), make([]byte, 60<<10)...)
		for i := range 20 {
			_ = view.inject(fakeMember(int32(7000+i), byte(i)), big)
		}
		if st, want := cl.Stats(), (1<<20)/len(big); st.UnlistedHeld != want || st.UnlistedHeldBytes > 1<<20 {
			t.Fatalf("20 messages of %d bytes: %d held (%d bytes), want %d (at most 1 MiB)", len(big),
				st.UnlistedHeld, st.UnlistedHeldBytes, want)
		}
	})
}
