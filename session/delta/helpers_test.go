package delta_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...)
}

const appName = "localhost#/app"

// node is one cluster member: an in-memory channel, a Cluster and (usually) a Manager.
type node struct {
	tn  *channeltest.Node
	ch  *channel.Channel
	cl  *delta.Cluster
	m   *delta.Manager
	rec *events
}

// newChannel starts a channel on nw; it is stopped when the test ends.
func newChannel(t testing.TB, nw *channeltest.Network) (*channeltest.Node, *channel.Channel) {
	t.Helper()
	return nw.StartChannel(t)
}

// newCluster is delta.NewCluster of cfg with ch as its Channel; an error ends the test.
func newCluster(t testing.TB, ch delta.Channel, cfg delta.ClusterConfig) *delta.Cluster {
	t.Helper()
	cfg.Channel = ch
	cl, err := delta.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// startNode starts a channel, a cluster and a manager configured by cfg (Name defaults to
// appName, listeners record into node.rec). It does not wait for the state transfer.
func startNode(t testing.TB, nw *channeltest.Network, cfg delta.Config) *node {
	t.Helper()
	tn, ch := newChannel(t, nw)
	return startManager(t, tn, ch, cfg)
}

// startManager is startNode on a channel already started.
func startManager(t testing.TB, tn *channeltest.Node, ch *channel.Channel, cfg delta.Config) *node {
	t.Helper()
	n := &node{tn: tn, ch: ch, rec: &events{}}
	n.cl = newCluster(t, ch, delta.ClusterConfig{})
	t.Cleanup(func() { _ = n.cl.Close(context.Background()) })
	if cfg.Name == "" {
		cfg.Name = appName
	}
	if cfg.MemberWait == 0 {
		cfg.MemberWait = -1 // the first node starts at once; tests of the wait set it
	}
	if _, isBench := t.(*testing.B); !isBench { // benchmarks run without listeners
		cfg.SessionListeners = append(cfg.SessionListeners, n.rec)
		cfg.AttributeListeners = append(cfg.AttributeListeners, n.rec)
	}
	m, err := n.cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.m = m
	return n
}

// startJoiner starts, on ch, a cluster configured by ccfg and a manager named appName
// with cfg's other settings, and does not wait for its state transfer; the cluster closes
// when the test ends. For channels startManager does not take (wrapped, over TCP).
func startJoiner(t testing.TB, ch delta.Channel, ccfg delta.ClusterConfig, cfg delta.Config) *delta.Manager {
	t.Helper()
	cl := newCluster(t, ch, ccfg)
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	cfg.Name = appName
	m, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// startReady is startNode followed by WaitReady.
func startReady(t testing.TB, nw *channeltest.Network, cfg delta.Config) *node {
	t.Helper()
	n := startNode(t, nw, cfg)
	if err := n.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

// three starts three ready nodes with routes a, b and c.
func three(t testing.TB, cfg delta.Config) (*channeltest.Network, *node, *node, *node) {
	t.Helper()
	nw := channeltest.NewNetwork()
	var ns []*node
	for _, r := range []string{"a", "b", "c"} {
		c := cfg
		c.JvmRoute = r
		ns = append(ns, startReady(t, nw, c))
	}
	return nw, ns[0], ns[1], ns[2]
}

// events records listener calls as strings such as "created S rep" or "added S k=v".
type events struct {
	mu  sync.Mutex
	evs []string
}

func (e *events) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, fmt.Sprintf(format, args...))
}

func rep(r bool) string {
	if r {
		return "rep"
	}
	return "local"
}

func (e *events) SessionCreated(ev delta.SessionEvent) {
	e.add("created %s", rep(ev.Replicated))
}
func (e *events) SessionDestroyed(ev delta.SessionEvent) {
	e.add("destroyed %s expired=%v", rep(ev.Replicated), ev.Expired)
}
func (e *events) SessionIDChanged(ev delta.SessionEvent, old string) {
	e.add("idchanged %s", rep(ev.Replicated))
}
func (e *events) AttributeAdded(ev delta.AttributeEvent) {
	e.add("added %s %s=%v", rep(ev.Replicated), ev.Name, ev.Value)
}
func (e *events) AttributeReplaced(ev delta.AttributeEvent) {
	e.add("replaced %s %s=%v", rep(ev.Replicated), ev.Name, ev.Value)
}
func (e *events) AttributeRemoved(ev delta.AttributeEvent) {
	e.add("removed %s %s=%v", rep(ev.Replicated), ev.Name, ev.Value)
}

func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := slices.Clone(e.evs)
	e.evs = nil
	return out
}

func wantEvents(t testing.TB, who string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s events:\n got  %q\n want %q", who, got, want)
	}
}

// create makes a session on n with attributes set and replicated.
func create(t testing.TB, n *node, kv ...any) *delta.Session {
	t.Helper()
	return delta.CreateReplicated(t, n.m, kv...)
}

// createNumbered makes n sessions on m, each with attribute k set to its index, and does
// not replicate them.
func createNumbered(t testing.TB, m *delta.Manager, n int) []*delta.Session {
	t.Helper()
	ss := make([]*delta.Session, n)
	for i := range ss {
		s, err := m.Create(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("k", i); err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	return ss
}

// makeAgain makes a session under id on m with k=0, replicates and invalidates it, then
// makes one again under the same id (CreateWithID) with k=1, replicated, and returns it.
func makeAgain(t testing.TB, m *delta.Manager, id string) *delta.Session {
	t.Helper()
	ctx := context.Background()
	var s *delta.Session
	for i := range 2 {
		var err error
		if s, err = m.CreateWithID(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := s.Set("k", i); err != nil {
			t.Fatal(err)
		}
		if err := m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := m.Invalidate(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

// raw is a bare channel on the network whose listener hands every session message to
// a function: a fake peer speaking the protocol by hand. A joiner's catch-up request
// (AskRecent; a joiner's late catch-up asks a member added within its CatchUpWindow) is
// acknowledged without an answer, as by a member with nothing to give, and not handed on.
type raw struct {
	tn    *channeltest.Node
	ch    *channel.Channel
	codec delta.BinaryCodec
}

func newRaw(t testing.TB, nw *channeltest.Network, on func(*delta.Message, channel.Member)) *raw {
	t.Helper()
	r := &raw{}
	r.tn, r.ch = newChannel(t, nw)
	r.ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		m, err := r.codec.DecodeMessage(msg.Data)
		if err != nil || on == nil || m.Event == delta.EventGetAllSessions && m.Version&delta.AskRecent != 0 {
			return nil // a joiner's catch-up, late ones too: acknowledged, nothing to give
		}
		on(m, msg.Source)
		return nil
	}))
	return r
}

// newAsker is a raw member that reports on the returned channel who asks it for every
// session (EVT_GET_ALL_SESSIONS); an ask while the last one is unread is not reported,
// nor is a joiner's catch-up (AskRecent: the raw member acknowledges it and sends
// nothing, as a member with nothing to give).
func newAsker(t testing.TB, nw *channeltest.Network) (*raw, <-chan channel.Member) {
	asked := make(chan channel.Member, 1)
	r := newRaw(t, nw, func(m *delta.Message, src channel.Member) {
		if m.Event == delta.EventGetAllSessions && m.Version&delta.AskRecent == 0 {
			select {
			case asked <- src:
			default:
			}
		}
	})
	return r, asked
}

// newExpiryCatcher is a raw member that keeps the last EVT_SESSION_EXPIRED it hears;
// last returns it (nil before any).
func newExpiryCatcher(t testing.TB, nw *channeltest.Network) (r *raw, last func() *delta.Message) {
	var mu sync.Mutex
	var expiry *delta.Message
	r = newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		if m.Event == delta.EventExpired {
			mu.Lock()
			expiry = m
			mu.Unlock()
		}
	})
	return r, func() *delta.Message {
		mu.Lock()
		defer mu.Unlock()
		return expiry
	}
}

func (r *raw) send(t testing.TB, to channel.Member, m *delta.Message) {
	t.Helper()
	data, err := r.codec.AppendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ch.Send(context.Background(), []channel.Member{to}, data, channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
}

// failingSessions is a listener of session messages (it accepts what the cluster accepts)
// that fails them while fail returns true: a node whose session side refuses updates. A
// channel.MessageListenerFunc would not do: a catch-all's error does not fail messages
// another listener owns.
type failingSessions struct{ fail func() bool }

func (f failingSessions) Accept(msg *channel.Message) bool {
	return (delta.BinaryCodec{}).Owns(msg.Data)
}

func (f failingSessions) MessageReceived(*channel.Message) error {
	if f.fail() {
		return errors.New("refused by the test")
	}
	return nil
}
