package channel_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
)

// gnet's worker pool, started by the tests that use transport/nio, is not a leak.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...) }

// recorder is a message and membership listener that keeps what it sees.
type recorder struct {
	mu     sync.Mutex
	msgs   []*channel.Message
	events []string
	fail   error
}

func (r *recorder) Accept(*channel.Message) bool { return true }
func (r *recorder) MessageReceived(m *channel.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return r.fail
}
func (r *recorder) MemberAdded(m channel.Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("+%d", m.Port))
}
func (r *recorder) MemberDisappeared(m channel.Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("-%d", m.Port))
}
func (r *recorder) data() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		out = append(out, string(m.Data))
	}
	return out
}
func (r *recorder) evs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

type node struct {
	ch  *channel.Channel
	net *channeltest.Node
	rec *recorder
}

func newNode(t *testing.T, nw *channeltest.Network, ics ...channel.Interceptor) *node {
	t.Helper()
	n := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), Interceptors: ics})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ch.AddMessageListener(rec)
	ch.AddMembershipListener(rec)
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	return &node{ch: ch, net: n, rec: rec}
}

func TestSendToAllMembers(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b, c := newNode(t, nw), newNode(t, nw), newNode(t, nw)
	if got := len(a.ch.Members()); got != 2 {
		t.Fatalf("a sees %d members, want 2", got)
	}
	if ms := a.ch.Members(); ms[0].Port != b.net.Port() {
		t.Fatalf("members not oldest first: %v", ms[0].Port)
	}
	for _, opts := range []channel.SendOptions{0, channel.OptUseAck, channel.OptUseAck | channel.OptSyncAck} {
		if err := a.ch.Send(context.Background(), nil, []byte("hi "+opts.String()), opts); err != nil {
			t.Fatalf("send %v: %v", opts, err)
		}
	}
	for _, n := range []*node{b, c} {
		got := n.rec.data()
		if len(got) != 3 || got[2] != "hi sync, use_ack" {
			t.Fatalf("node %d got %q", n.net.Port(), got)
		}
		m := n.rec.msgs[0]
		if m.Source.UniqueID != a.ch.LocalMember().UniqueID || m.Source.Port != a.net.Port() {
			t.Fatalf("source %v, want a", m.Source.String())
		}
		if !m.Options.Has(channel.OptByteMessage) {
			t.Fatal("byte message bit not set")
		}
		if len(m.ID) != 16 || m.ID[6]>>4 != 4 {
			t.Fatalf("message id %x is not a v4 id", m.ID)
		}
	}
	if a.rec.data() != nil {
		t.Fatal("sender received its own message")
	}
	if s := a.ch.Stats(); s.MessagesSent != 3 || s.BytesSent == 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSyncAckListenerErrorNamesMember(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b, c := newNode(t, nw), newNode(t, nw), newNode(t, nw)
	boom := errors.New("boom")
	c.rec.fail = boom
	err := a.ch.Send(context.Background(), nil, []byte("x"), channel.OptUseAck|channel.OptSyncAck)
	if !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("err = %v, want ErrAckFailed", err)
	}
	var se *channel.SendError
	if !errors.As(err, &se) || len(se.Faulty) != 1 || se.Faulty[0].Member.Port != c.net.Port() {
		t.Fatalf("faulty = %+v", channel.FaultyMembers(err))
	}
	if len(b.rec.data()) != 1 {
		t.Fatal("the healthy member did not get the message")
	}
	// With a plain ack the listener's failure is not reported (ACK goes before processing).
	if err := a.ch.Send(context.Background(), nil, []byte("y"), channel.OptUseAck); err != nil {
		t.Fatalf("use-ack send reported %v", err)
	}
	if s := c.ch.Stats(); s.ListenerFailures != 2 {
		t.Fatalf("listener failures %d", s.ListenerFailures)
	}
}

func TestSendErrors(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := newNode(t, nw)
	if err := a.ch.Send(context.Background(), nil, []byte("x"), 0); !errors.Is(err, channel.ErrNoMembers) {
		t.Fatalf("no members: %v", err)
	}
	b := newNode(t, nw)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.ch.Send(ctx, []channel.Member{b.net.Member()}, []byte("x"), channel.OptUseAck)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	nw.Kill(b.net)
	err = a.ch.Send(context.Background(), []channel.Member{b.net.Member()}, []byte("x"), channel.OptUseAck)
	if !errors.Is(err, channel.ErrConnect) || len(channel.FaultyMembers(err)) != 1 {
		t.Fatalf("killed member: %v", err)
	}
	if evs := a.rec.evs(); !slices.Equal(evs, []string{fmt.Sprintf("+%d", b.net.Port()), fmt.Sprintf("-%d", b.net.Port())}) {
		t.Fatalf("events %v", evs)
	}
	if err := a.ch.Stop(context.Background(), channel.SvcSender); err != nil {
		t.Fatal(err)
	}
	if err := a.ch.Send(context.Background(), []channel.Member{b.net.Member()}, nil, 0); !errors.Is(err, channel.ErrNotStarted) {
		t.Fatalf("stopped sender: %v", err)
	}
	if err := a.ch.Send(context.Background(), nil, nil, channel.OptMulticast); !errors.Is(err, channel.ErrNoBroadcast) {
		t.Fatalf("multicast without broadcaster: %v", err)
	}
}

// failingTransport wraps a transport and fails to start one level.
type failingTransport struct {
	channel.Transport
	failOn  channel.Service
	stopped []channel.Service
}

func (f *failingTransport) Start(ctx context.Context, svc channel.Service, rx channel.ReceiveFunc) error {
	if svc&f.failOn != 0 {
		return errors.New("cannot start")
	}
	return f.Transport.Start(ctx, svc, rx)
}

func (f *failingTransport) Stop(ctx context.Context, svc channel.Service) error {
	f.stopped = append(f.stopped, svc)
	return f.Transport.Stop(ctx, svc)
}

func TestLifecycle(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := nw.NewNode()
	ft := &failingTransport{Transport: n.Transport(), failOn: channel.SvcSender}
	ch, err := channel.New(channel.Config{Transport: ft, Membership: n.Membership()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := ch.Start(ctx, channel.SvcAll); err == nil {
		t.Fatal("start succeeded with a failing sender")
	}
	// The sender whose Start failed is stopped too, which the transport may have started
	// before failing (TestFailedStartStopsTheTransportLevelThatFailed), then the receiver.
	if ch.Started() != 0 || !slices.Equal(ft.stopped, []channel.Service{channel.SvcSender, channel.SvcReceiver}) {
		t.Fatalf("failed start left %v running, stopped %v", ch.Started(), ft.stopped)
	}
	ft.failOn = 0
	if err := ch.Start(ctx, channel.SvcReceiver|channel.SvcSender); err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(ctx, channel.SvcReceiver); !errors.Is(err, channel.ErrAlreadyStarted) {
		t.Fatalf("second start: %v", err)
	}
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatalf("starting the remaining levels: %v", err)
	}
	if ch.LocalMember().Port != n.Port() || ch.LocalMember().IP().String() != "127.0.0.1" {
		t.Fatalf("local member %v", ch.LocalMember().String())
	}
	for range 2 {
		if err := ch.Stop(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	if ch.Started() != 0 {
		t.Fatal("levels still running")
	}
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if _, err := channel.New(channel.Config{}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatalf("missing transport: %v", err)
	}
}

// tagger appends its tag to outgoing data and strips it from incoming data, recording order.
type tagger struct {
	channel.InterceptorBase
	tag   byte
	trace *[]string
	mu    *sync.Mutex
}

func (g *tagger) SendMessage(ctx context.Context, to []channel.Member, m *channel.Message) error {
	g.mu.Lock()
	*g.trace = append(*g.trace, fmt.Sprintf("send %c", g.tag))
	g.mu.Unlock()
	m.Data = append(bytes.Clone(m.Data), g.tag)
	return g.Next().SendMessage(ctx, to, m)
}

func (g *tagger) MessageReceived(m *channel.Message) error {
	g.mu.Lock()
	*g.trace = append(*g.trace, fmt.Sprintf("recv %c", g.tag))
	g.mu.Unlock()
	if len(m.Data) == 0 || m.Data[len(m.Data)-1] != g.tag {
		return fmt.Errorf("tagger %c: trailer missing in %q", g.tag, m.Data)
	}
	m.Data = m.Data[:len(m.Data)-1]
	return g.Prev().MessageReceived(m)
}

func TestInterceptorOrder(t *testing.T) {
	var trace []string
	var mu sync.Mutex
	mk := func(tag byte) *tagger { return &tagger{tag: tag, trace: &trace, mu: &mu} }
	nw := channeltest.NewNetwork()
	a := newNode(t, nw, mk('1'), mk('2'))
	b := newNode(t, nw, mk('1'), mk('2'))
	data := []byte("payload")
	if err := a.ch.Send(context.Background(), nil, data, channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
	if string(data) != "payload" {
		t.Fatal("interceptor modified the caller's buffer")
	}
	if got := b.rec.data(); len(got) != 1 || got[0] != "payload" {
		t.Fatalf("received %q", got)
	}
	want := []string{"send 1", "send 2", "recv 2", "recv 1"}
	if !slices.Equal(trace, want) {
		t.Fatalf("trace %v, want %v", trace, want)
	}
	reused := mk('3')
	if _, err := channel.New(channel.Config{Transport: nw.NewNode().Transport(), Interceptors: []channel.Interceptor{reused, reused}}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatalf("duplicate interceptor accepted: %v", err)
	}
}

type beatCounter struct {
	channel.InterceptorBase
	mu    sync.Mutex
	beats int
}

func (b *beatCounter) Heartbeat() {
	b.mu.Lock()
	b.beats++
	b.mu.Unlock()
	b.Next().Heartbeat()
}

type listenerBeats struct{ beats atomic.Int32 }

func (l *listenerBeats) Accept(*channel.Message) bool           { return false }
func (l *listenerBeats) MessageReceived(*channel.Message) error { return nil }
func (l *listenerBeats) Heartbeat()                             { l.beats.Add(1) }

func TestHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		n := nw.NewNode()
		bc := &beatCounter{}
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(),
			Interceptors: []channel.Interceptor{bc}})
		if err != nil {
			t.Fatal(err)
		}
		lb := &listenerBeats{}
		ch.AddMessageListener(lb)
		if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*channel.DefaultHeartbeatInterval + time.Second)
		synctest.Wait()
		bc.mu.Lock()
		beats := bc.beats
		bc.mu.Unlock()
		if beats != 3 || lb.beats.Load() != 3 {
			t.Fatalf("%d chain and %d listener heartbeats in 16 s, want 3", beats, lb.beats.Load())
		}
		if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		bc.mu.Lock()
		defer bc.mu.Unlock()
		if bc.beats != 3 {
			t.Fatal("heartbeat kept running after Stop")
		}
	})
}

func TestMembershipEventsAndListenerRemoval(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := newNode(t, nw)
	extra := &recorder{}
	remove := a.ch.AddMembershipListener(extra)
	b := newNode(t, nw)
	remove()
	nw.Partition(a.net, b.net)
	nw.Heal(a.net, b.net)
	p := b.net.Port()
	want := []string{fmt.Sprintf("+%d", p), fmt.Sprintf("-%d", p), fmt.Sprintf("+%d", p)}
	if got := a.rec.evs(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if got := extra.evs(); len(got) != 1 {
		t.Fatalf("removed listener saw %v", got)
	}
	if a.ch.Stats().MembersAdded != 2 || a.ch.Stats().MembersGone != 1 {
		t.Fatalf("stats %+v", a.ch.Stats())
	}
	if _, ok := a.ch.Member(b.ch.LocalMember().Key()); !ok {
		t.Fatal("Member lookup failed")
	}
}

func TestSetPayloadAndDomain(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := newNode(t, nw)
	if err := a.ch.SetPayload([]byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := a.ch.SetDomain([]byte("d")); err != nil {
		t.Fatal(err)
	}
	lm := a.ch.LocalMember()
	if !bytes.Equal(lm.Payload, []byte{1, 2}) || string(lm.Domain) != "d" {
		t.Fatalf("local member %+v", lm)
	}
}

// healthTransport is a transport whose failures the test reports by hand.
type healthTransport struct {
	channel.Transport
	report func(error)
}

func (h *healthTransport) SetHealthFunc(f func(error)) { h.report = f }

type healthRecorder struct {
	recorder
	health []error
}

func (h *healthRecorder) HealthChanged(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.health = append(h.health, err)
}

func TestHealthEvents(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := nw.NewNode()
	tr := &healthTransport{Transport: n.Transport()}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: n.Membership()})
	if err != nil {
		t.Fatal(err)
	}
	rec := &healthRecorder{}
	ch.AddMembershipListener(rec)
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if !ch.Healthy() || ch.Health() != nil {
		t.Fatal("unhealthy at start")
	}
	failure := fmt.Errorf("%w: listener died", channel.ErrReceiverFailed)
	tr.report(failure)
	if ch.Healthy() || !errors.Is(ch.Health(), channel.ErrReceiverFailed) {
		t.Fatalf("after a failure: healthy=%v health=%v", ch.Healthy(), ch.Health())
	}
	if got := ch.Stats().HealthFailures; got != 1 {
		t.Fatalf("HealthFailures %d", got)
	}
	tr.report(nil)
	if !ch.Healthy() {
		t.Fatal("still unhealthy after the recovery")
	}
	tr.report(nil) // a recovery without a failure is no event
	tr.report(failure)
	if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if !ch.Healthy() {
		t.Fatal("a stopped channel keeps an old failure")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.health) != 3 || rec.health[0] != failure || rec.health[1] != nil || rec.health[2] != failure {
		t.Fatalf("health events %v", rec.health)
	}
}

// A message whose source is not a member is dropped before the listeners (a sync-ack
// sender gets FAIL_ACK); a member listed without a unique id matches by address; the
// check can be turned off.
func TestNonMemberMessagesDropped(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newNode(t, nw), newNode(t, nw)
	stranger := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 9, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{1}}
	forged := &channel.Message{Options: channel.OptByteMessage | channel.OptUseAck | channel.OptSyncAck,
		Source: stranger, Data: []byte("forged")}
	err := a.ch.SendMessage(context.Background(), []channel.Member{b.net.Member()}, forged)
	if !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("forged send: %v", err)
	}
	if got := b.rec.data(); len(got) != 0 {
		t.Fatalf("b delivered %q", got)
	}
	if st := b.ch.Stats(); st.NonMemberDropped != 1 || st.MessagesReceived != 0 {
		t.Fatalf("b stats %+v", st)
	}
	if err := a.ch.Send(context.Background(), nil, []byte("real"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
	if got := b.rec.data(); !slices.Equal(got, []string{"real"}) {
		t.Fatalf("b delivered %q", got)
	}

	// A static list naming a by host:port only.
	n := nw.NewNode()
	am := a.net.Member()
	ch, err := channel.New(channel.Config{Transport: n.Transport(),
		Membership: static.New(channel.Member{Host: am.Host, Port: am.Port, SecurePort: -1, UDPPort: -1})})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	ch.AddMessageListener(rec)
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop(context.Background(), channel.SvcAll)
	to := []channel.Member{ch.LocalMember()}
	if err := a.ch.Send(context.Background(), to, []byte("by address"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
	if err := b.ch.Send(context.Background(), to, []byte("unlisted"), channel.OptUseAck|channel.OptSyncAck); !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("unlisted sender: %v", err)
	}
	if got := rec.data(); !slices.Equal(got, []string{"by address"}) {
		t.Fatalf("delivered %q", got)
	}

	// Opting out.
	o := nw.NewNode()
	open, err := channel.New(channel.Config{Transport: o.Transport(), Membership: o.Membership(), AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	orec := &recorder{}
	open.AddMessageListener(orec)
	if err := open.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer open.Stop(context.Background(), channel.SvcAll)
	forged.ID = nil
	if err := a.ch.SendMessage(context.Background(), []channel.Member{o.Member()}, forged); err != nil {
		t.Fatal(err)
	}
	if got := orec.data(); !slices.Equal(got, []string{"forged"}) || open.Stats().NonMemberDropped != 0 {
		t.Fatalf("opted-out channel delivered %q", got)
	}
}

func TestWaitForMembers(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := newNode(t, nw)
	if err := a.ch.WaitForMembers(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.ch.WaitForMembers(context.Background(), 2) }()
	newNode(t, nw)
	select {
	case err := <-done:
		t.Fatalf("returned with one member: %v", err)
	default:
	}
	newNode(t, nw)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitForMembers did not return with two members")
	}
	if n := len(a.ch.Members()); n != 2 {
		t.Fatalf("%d members", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.ch.WaitForMembers(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}

	// A channel not running has no members to wait for: an error at once, not a wait
	// until ctx ends (forever with context.Background()).
	tn := nw.NewNode()
	idle, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership()})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.WaitForMembers(context.Background(), 1); !errors.Is(err, channel.ErrNotStarted) {
		t.Fatalf("never started: %v, want ErrNotStarted", err)
	}
	if err := a.ch.Stop(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if err := a.ch.WaitForMembers(context.Background(), 3); !errors.Is(err, channel.ErrNotStarted) {
		t.Fatalf("stopped: %v, want ErrNotStarted", err)
	}
}

// protoListener takes messages from non-members that start with "proto", as a membership
// protocol over the channel does.
type protoListener struct{ recorder }

func (*protoListener) AcceptNonMember(m *channel.Message) bool {
	return bytes.HasPrefix(m.Data, []byte("proto"))
}

// A NonMemberListener gets the messages of non-members it accepts; other listeners never
// see them, and messages no such listener accepts are still dropped.
func TestNonMemberListener(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newNode(t, nw), newNode(t, nw)
	proto := &protoListener{}
	b.ch.AddMessageListener(proto)
	stranger := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 9, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{1}}
	send := func(data string) error {
		return a.ch.SendMessage(context.Background(), []channel.Member{b.net.Member()},
			&channel.Message{Options: channel.OptByteMessage | channel.OptUseAck | channel.OptSyncAck, Source: stranger, Data: []byte(data)})
	}
	if err := send("proto start"); err != nil {
		t.Fatal(err)
	}
	if err := send("app data"); !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("app data from a stranger: %v", err)
	}
	if got := proto.data(); !slices.Equal(got, []string{"proto start"}) {
		t.Fatalf("protocol listener got %q", got)
	}
	if got := b.rec.data(); len(got) != 0 {
		t.Fatalf("plain listener got %q", got)
	}
	if st := b.ch.Stats(); st.NonMemberDropped != 1 || st.MessagesReceived != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// forgettingTransport records the members the channel tells it to forget.
type forgettingTransport struct {
	channel.Transport
	mu     sync.Mutex
	forgot []int32
}

func (f *forgettingTransport) ForgetMember(m channel.Member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, m.Port)
}

// A member that disappears is forgotten by a transport that keeps connections per member
// (channel.MemberForgetter), before the listeners hear of it; one that is added is not.
func TestDisappearedMemberForgottenByTransport(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := nw.NewNode()
	tr := &forgettingTransport{Transport: n.Transport()}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: n.Membership()})
	if err != nil {
		t.Fatal(err)
	}
	var atEvent []int32
	ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(channel.Member) {
		tr.mu.Lock()
		atEvent = slices.Clone(tr.forgot)
		tr.mu.Unlock()
	}})
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	b := newNode(t, nw)
	nw.Kill(b.net)
	if want := []int32{b.net.Port()}; !slices.Equal(atEvent, want) {
		t.Fatalf("forgotten when the listeners heard of it: %v, want %v", atEvent, want)
	}
}

// prefixListener accepts the messages starting with its prefix and fails those that end
// with "!".
type prefixListener struct{ prefix string }

func (p prefixListener) Accept(msg *channel.Message) bool {
	return bytes.HasPrefix(msg.Data, []byte(p.prefix))
}

func (p prefixListener) MessageReceived(msg *channel.Message) error {
	if bytes.HasSuffix(msg.Data, []byte("!")) {
		return errors.New("own message refused")
	}
	return nil
}

// Two applications on one channel: one that accepts only its own messages, and one that
// accepts everything (MessageListenerFunc) and fails what it does not know. The catch-all
// cannot FAIL_ACK the other application's messages; its own failures, and the owner's,
// reach the sender.
func TestCatchAllListenerErrorDoesNotFailOthersMessages(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, bn := newNode(t, nw), nw.NewNode()
	b, err := channel.New(channel.Config{Transport: bn.Transport(), Membership: bn.Membership()})
	if err != nil {
		t.Fatal(err)
	}
	b.AddMessageListener(prefixListener{prefix: "sess:"})
	var catchAll atomic.Int32
	b.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		catchAll.Add(1)
		if !bytes.HasPrefix(msg.Data, []byte("kv:")) {
			return errors.New("not a kv message")
		}
		return nil
	}))
	if err := b.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background(), channel.SvcAll) })
	to := []channel.Member{b.LocalMember()}
	send := func(data string) error {
		return a.ch.Send(context.Background(), to, []byte(data), channel.OptUseAck|channel.OptSyncAck)
	}
	if err := send("sess:update"); err != nil {
		t.Fatalf("the session message failed because of the catch-all listener: %v", err)
	}
	if err := send("kv:put"); err != nil {
		t.Fatalf("kv message: %v", err)
	}
	if err := send("sess:update!"); !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("the owner's error: %v, want FAIL_ACK", err)
	}
	if err := send("stray"); !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("a message only the catch-all took, which it failed: %v, want FAIL_ACK", err)
	}
	if n := catchAll.Load(); n != 4 {
		t.Fatalf("the catch-all saw %d messages, want 4 (it accepts everything)", n)
	}
	if st := b.Stats(); st.ListenerFailures != 3 {
		t.Fatalf("listener failures %d, want 3 (the ignored one counted too)", st.ListenerFailures)
	}
}

// A synchronized-ack message that no listener accepts is answered FAIL_ACK, so the sender
// learns that nobody handled it; Config.AckUnaccepted answers ACK, as Java Tribes does.
// Messages without synchronized ack are dropped silently either way.
func TestUnacceptedSyncAckMessage(t *testing.T) {
	for _, ackUnaccepted := range []bool{false, true} {
		t.Run(fmt.Sprintf("AckUnaccepted=%v", ackUnaccepted), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			a, bn := newNode(t, nw), nw.NewNode()
			b, err := channel.New(channel.Config{Transport: bn.Transport(), Membership: bn.Membership(),
				AckUnaccepted: ackUnaccepted})
			if err != nil {
				t.Fatal(err)
			}
			b.AddMessageListener(prefixListener{prefix: "kv:"})
			if err := b.Start(context.Background(), channel.SvcAll); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Stop(context.Background(), channel.SvcAll) })
			to := []channel.Member{b.LocalMember()}
			send := func(data string, opts channel.SendOptions) error {
				return a.ch.Send(context.Background(), to, []byte(data), opts)
			}
			syncAck := channel.OptUseAck | channel.OptSyncAck
			if err := send("kv:put", syncAck); err != nil {
				t.Fatalf("accepted message: %v", err)
			}
			err = send("session:get-all", syncAck)
			if ackUnaccepted && err != nil {
				t.Fatalf("unaccepted message with AckUnaccepted: %v, want ACK", err)
			}
			if !ackUnaccepted {
				if !errors.Is(err, channel.ErrAckFailed) {
					t.Fatalf("unaccepted message: %v, want FAIL_ACK", err)
				}
				if fm := channel.FaultyMembers(err); len(fm) != 1 || fm[0].Member.Port != bn.Port() {
					t.Fatalf("faulty members %+v", fm)
				}
			}
			for _, opts := range []channel.SendOptions{0, channel.OptUseAck} {
				if err := send("session:delta", opts); err != nil {
					t.Fatalf("unaccepted message sent with %v: %v", opts, err)
				}
			}
			if st := b.Stats(); st.Unhandled != 3 || st.ListenerFailures != 0 {
				t.Fatalf("unhandled %d, listener failures %d; want 3, 0", st.Unhandled, st.ListenerFailures)
			}
		})
	}
}

// lossRecorder is a message listener that also records lost messages.
type lossRecorder struct {
	recorder
	lost []channel.LostMessage
}

func (l *lossRecorder) MessageLost(m channel.LostMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lost = append(l.lost, m)
}

// A message the transport loses (channeltest's size limit standing for nio's MaxFrameSize)
// is counted, and listeners implementing LossListener learn its sender and size; the
// sender's send fails.
func TestLostMessagesReported(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newNode(t, nw), newNode(t, nw)
	lr := &lossRecorder{}
	b.ch.AddMessageListener(lr)
	b.net.SetMaxMessageSize(4)
	to := []channel.Member{b.net.Member()}
	if err := a.ch.Send(context.Background(), to, []byte("too long"), channel.OptUseAck); !errors.Is(err, channel.ErrConnectionLost) {
		t.Fatalf("send: %v", err)
	}
	if err := a.ch.Send(context.Background(), to, []byte("fits"), channel.OptUseAck); err != nil {
		t.Fatal(err)
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if len(lr.lost) != 1 || lr.lost[0].Source.Key() != a.ch.LocalMember().Key() || lr.lost[0].Size != 8 ||
		!errors.Is(lr.lost[0].Err, channel.ErrMessageTooLarge) {
		t.Fatalf("lost %+v", lr.lost)
	}
	if got := b.rec.data(); len(got) != 1 || got[0] != "fits" {
		t.Fatalf("delivered %q", got)
	}
	if st := b.ch.Stats(); st.MessagesLost != 1 {
		t.Fatalf("MessagesLost %d", st.MessagesLost)
	}
}

// A send to every member of a channel that is not started, or was stopped, says so: the
// empty member list is not the cause.
func TestSendToAllBeforeStartAndAfterStop(t *testing.T) {
	ctx := context.Background()
	n := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(ctx, nil, []byte("x"), 0); !errors.Is(err, channel.ErrNotStarted) {
		t.Fatalf("before Start: %v, want ErrNotStarted", err)
	}
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(ctx, nil, []byte("x"), 0); !errors.Is(err, channel.ErrNoMembers) {
		t.Fatalf("started, alone: %v, want ErrNoMembers", err)
	}
	if err := ch.Stop(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(ctx, nil, []byte("x"), 0); !errors.Is(err, channel.ErrNotStarted) {
		t.Fatalf("after Stop: %v, want ErrNotStarted", err)
	}
}
