package delta_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// lagging is a delta.Channel whose membership lists another member only once the test
// lists it (list): until then that member is neither in Members nor found by Member,
// and its Added event waits for list, as on a node whose membership has not heard
// from a joiner yet while the joiner lists it. It records what the cluster sends, and
// inject hands the cluster a message from any claimed source.
type lagging struct {
	*channel.Channel
	mu     sync.Mutex
	listed map[channel.MemberKey]channel.Member // the member's record, as listed
	ml     []channel.MembershipListener
	msgl   []channel.MessageListener
	sent   []sentTo
}

type sentTo struct {
	to  channel.Member
	msg *delta.Message
}

func newLagging(ch *channel.Channel) *lagging {
	return &lagging{Channel: ch, listed: map[channel.MemberKey]channel.Member{}}
}

func (l *lagging) Members() []channel.Member {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ms []channel.Member
	for _, m := range l.listed {
		ms = append(ms, m)
	}
	return ms
}

func (l *lagging) Member(k channel.MemberKey) (channel.Member, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.listed[k]
	return m, ok
}

// AddMembershipListener keeps l's listeners for list; the channel's events are not
// passed on.
func (l *lagging) AddMembershipListener(ml channel.MembershipListener) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ml = append(l.ml, ml)
	return func() {}
}

func (l *lagging) AddMessageListener(ml channel.MessageListener) func() {
	l.mu.Lock()
	l.msgl = append(l.msgl, ml)
	l.mu.Unlock()
	return l.Channel.AddMessageListener(ml)
}

// list makes the membership list m, and tells the listeners.
func (l *lagging) list(m channel.Member) {
	l.mu.Lock()
	l.listed[m.Key()] = m
	ls := slices.Clone(l.ml)
	l.mu.Unlock()
	for _, ml := range ls {
		ml.MemberAdded(m)
	}
}

func (l *lagging) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if dm, err := (delta.JavaCodec{}).DecodeMessage(msg.Data); err == nil {
		l.mu.Lock()
		for _, m := range to {
			l.sent = append(l.sent, sentTo{to: m, msg: dm})
		}
		l.mu.Unlock()
	}
	return l.Channel.SendMessage(ctx, to, msg)
}

func (l *lagging) sends() []sentTo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sent)
}

// inject hands the cluster data as a message from src; the error is its listener's.
func (l *lagging) inject(src channel.Member, data []byte) error {
	l.mu.Lock()
	ls := slices.Clone(l.msgl)
	l.mu.Unlock()
	raw := &channel.Message{Source: src, Data: data, ID: channel.NewMessageID()}
	for _, ml := range ls {
		if ml.Accept(raw) {
			return ml.MessageReceived(raw)
		}
	}
	return errors.New("no listener accepted the message")
}

// startLaggingDonor starts a ready Go node of a JavaCodec cluster on a lagging view of a
// channel of nw, holding n sessions.
func startLaggingDonor(t *testing.T, nw *channeltest.Network, n int) (*lagging, *delta.Cluster, *delta.Manager, []string) {
	t.Helper()
	return startLaggingDonorWith(t, nw, n, delta.ClusterConfig{})
}

// startLaggingDonorWith is startLaggingDonor with the cluster's other settings from ccfg.
func startLaggingDonorWith(t *testing.T, nw *channeltest.Network, n int, ccfg delta.ClusterConfig) (*lagging, *delta.Cluster, *delta.Manager, []string) {
	t.Helper()
	ctx := context.Background()
	_, ch := newChannel(t, nw)
	view := newLagging(ch)
	ccfg.Codec = delta.JavaCodec{}
	cl := newCluster(t, view, ccfg)
	t.Cleanup(func() { _ = cl.Close(ctx) })
	m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: "go1", MemberWait: -1, Codec: delta.JavaValueCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		s, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("k", i); err != nil {
			t.Fatal(err)
		}
		if err := m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID())
	}
	return view, cl, m, ids
}

// getAll is a Tomcat joiner's EVT_GET_ALL_SESSIONS for appName, in Tomcat's format.
func getAll(t *testing.T) []byte {
	t.Helper()
	data, err := delta.JavaCodec{}.AppendMessage(nil, &delta.Message{Event: delta.EventGetAllSessions, Context: appName,
		SessionID: "GET-ALL", UniqueID: "GET-ALL-" + appName, Timestamp: time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// A Tomcat joiner asks its donor for every session once, asynchronously, and waits
// 60 s for them without asking again. Its request reaches the Go donor two seconds
// before the donor's membership lists it: the donor holds it, refused (FAIL_ACK), and
// answers it once it lists the joiner, which gets every session then; before, the
// request was dropped and the joiner started without sessions.
func TestTomcatJoinerAskingBeforeItIsListedGetsTheSessions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, m, ids := startLaggingDonor(t, nw, 3)
		donor := view.LocalMember()

		_, jch := newChannel(t, nw) // the Tomcat joiner, speaking Tomcat's format by hand
		var mu sync.Mutex
		var got []string
		complete := 0
		jch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
			dm, err := delta.JavaCodec{}.DecodeMessage(msg.Data)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			switch dm.Event {
			case delta.EventAllSessionData:
				for _, s := range dm.Sessions {
					got = append(got, s.ID)
				}
			case delta.EventTransferComplete:
				complete++
			}
			return nil
		}))
		// Tomcat's DeltaManager.getAllClusterSessions: SEND_OPTIONS_ASYNCHRONOUS, once.
		if err := jch.SendMessage(context.Background(), []channel.Member{donor},
			&channel.Message{Options: channel.OptAsync, Data: getAll(t)}); err != nil {
			t.Fatalf("the asynchronous request: %v", err)
		}
		synctest.Wait()
		if st := cl.Stats(); st.RefusedNonMember != 0 || st.UnlistedHeld != 1 || len(view.sends()) != 0 {
			t.Errorf("before the donor lists the joiner: refused %d, held %d, sent %d messages; want 0, 1, 0",
				st.RefusedNonMember, st.UnlistedHeld, len(view.sends()))
		}

		time.Sleep(2 * time.Second) // the donor's membership lags
		view.list(jch.LocalMember())
		synctest.Wait()
		mu.Lock()
		slices.Sort(got)
		slices.Sort(ids)
		if !slices.Equal(got, ids) || complete != 1 {
			t.Errorf("the joiner got sessions %q and %d EVT_ALL_SESSION_TRANSFERCOMPLETE, want %q and 1", got, complete, ids)
		}
		mu.Unlock()
		if st := cl.Stats(); st.UnlistedAnswered != 1 || st.UnlistedHeld != 0 || m.Stats().SessionsServed != 3 {
			t.Errorf("answered %d held requests, %d still held, served %d sessions; want 1, 0, 3",
				st.UnlistedAnswered, st.UnlistedHeld, m.Stats().SessionsServed)
		}
	})
}

// A stranger's session messages are held within bounds (64 per sender, 256 in all, none
// over 64 KiB), never decoded nor answered while it is not listed, and dropped once the
// wait is over: a stranger listed later gets nothing. A sender listed within the wait
// has its held messages handled in the order they came, as from the membership's record
// of it, not from what its messages claimed: its expiry applied, then its request for
// every session answered (the latest only).
func TestStrangersHeldRequestsBoundedAndDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		view, cl, m, ids := startLaggingDonor(t, nw, 2)
		req := getAll(t)

		stranger := fakeMember(4666, 66)
		for range 100 {
			if err := view.inject(stranger, req); !errors.Is(err, channel.ErrNotMember) {
				t.Fatalf("a stranger's request: %v, want channel.ErrNotMember", err)
			}
		}
		if st := cl.Stats(); st.UnlistedHeld != 64 {
			t.Fatalf("one stranger's 100 requests: %d held, want 64", st.UnlistedHeld)
		}
		for i := range 300 { // invented senders
			if err := view.inject(fakeMember(int32(5000+i), byte(i)), req); !errors.Is(err, channel.ErrNotMember) {
				t.Fatalf("an invented sender's request: %v", err)
			}
		}
		big := append(slices.Clone(req), make([]byte, 64<<10)...)
		_ = view.inject(fakeMember(4777, 77), big)
		st := cl.Stats()
		if st.UnlistedHeld != 256 || st.UnlistedHeldBytes != 256*len(req) || st.UnlistedDropped != 36+300-192+1 {
			t.Fatalf("held %d (%d bytes), dropped %d; want 256 (%d bytes), %d", st.UnlistedHeld, st.UnlistedHeldBytes,
				st.UnlistedDropped, 256*len(req), 36+300-192+1)
		}

		time.Sleep(delta.DefaultUnlistedRequestWait)
		synctest.Wait()
		if st := cl.Stats(); st.UnlistedHeld != 0 || st.UnlistedHeldBytes != 0 {
			t.Fatalf("after the wait: %d held (%d bytes), want none", st.UnlistedHeld, st.UnlistedHeldBytes)
		}
		view.list(stranger) // listed too late
		synctest.Wait()
		if n := len(view.sends()); n != 0 || m.Stats().SessionsServed != 0 {
			t.Fatalf("%d messages sent, %d sessions served to senders listed after the wait", n, m.Stats().SessionsServed)
		}

		// A joiner listed within the wait: its expiry applied, its request answered at its
		// record (no payload), not at the payload its messages claimed.
		_, jch := newChannel(t, nw)
		jch.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
		joiner := jch.LocalMember()
		claimed := joiner
		claimed.Payload = []byte("claimed")
		expire, err := delta.JavaCodec{}.AppendMessage(nil, &delta.Message{Event: delta.EventExpired, Context: appName,
			SessionID: ids[0], Timestamp: time.Now().UnixMilli()})
		if err != nil {
			t.Fatal(err)
		}
		_ = view.inject(claimed, expire)
		_ = view.inject(claimed, req)
		_ = view.inject(claimed, req) // once answered, not twice
		time.Sleep(time.Second)
		view.list(joiner)
		synctest.Wait()
		if m.Find(ids[0]) != nil || m.Len() != 1 {
			t.Error("a held expiry was not applied once its sender was listed")
		}
		sent := view.sends()
		if len(sent) == 0 || sent[len(sent)-1].msg.Event != delta.EventTransferComplete || m.Stats().SessionsServed != 1 {
			t.Fatalf("the joiner was sent %d messages, %d sessions; want its transfer of the 1 left", len(sent), m.Stats().SessionsServed)
		}
		for _, s := range sent {
			if !s.to.Equal(joiner) || len(s.to.Payload) != 0 {
				t.Fatalf("sent to %v (payload %q), want the membership's record of the joiner", s.to.Addr(), s.to.Payload)
			}
		}
		if st := cl.Stats(); st.UnlistedAnswered != 1 || st.UnlistedApplied != 1 || st.UnlistedHeld != 0 {
			t.Errorf("answered %d, applied %d, held %d; want 1, 1, 0", st.UnlistedAnswered, st.UnlistedApplied, st.UnlistedHeld)
		}
	})
}
