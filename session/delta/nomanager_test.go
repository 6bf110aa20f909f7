package delta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// kvApp is an application of its own on a channel: its listener accepts only its own
// messages ("kv:..."), as channel.MessageListener advises.
type kvApp struct{ own, foreign atomic.Int32 }

func (a *kvApp) Accept(msg *channel.Message) bool {
	if bytes.HasPrefix(msg.Data, []byte("kv:")) {
		return true
	}
	a.foreign.Add(1) // never delivered: counted here to show the app saw nothing else
	return false
}

func (a *kvApp) MessageReceived(*channel.Message) error {
	a.own.Add(1)
	return nil
}

// newKVChannel starts a channel on nw running only the kv application (no session
// cluster at all) behind the given interceptors.
func newKVChannel(t testing.TB, nw *channeltest.Network, ics ...channel.Interceptor) (*channeltest.Node, *channel.Channel, *kvApp) {
	t.Helper()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(),
		HeartbeatInterval: -1, Interceptors: ics})
	if err != nil {
		t.Fatal(err)
	}
	app := &kvApp{}
	ch.AddMessageListener(app)
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
	return tn, ch, app
}

// checkNoManager checks that a joiner became ready empty after asking one member that
// runs no session manager.
func checkNoManager(t *testing.T, j *node) {
	t.Helper()
	st := j.m.Stats()
	if st.TransferAttempts != 1 || st.TransferNoManager != 1 || st.TransferDeclined != 0 ||
		st.TransferDonor != "" || st.SessionsTransferred != 0 || j.m.Len() != 0 {
		t.Fatalf("joiner stats: attempts %d, no manager %d, declined %d, donor %q, transferred %d, %d sessions",
			st.TransferAttempts, st.TransferNoManager, st.TransferDeclined, st.TransferDonor,
			st.SessionsTransferred, j.m.Len())
	}
}

// Two applications on one channel, on different nodes: A runs only a key-value app, B
// starts a session manager and asks A for its sessions. A's channel answers the request
// with FAIL_ACK (no listener accepted it), so B knows at once that A runs no session
// manager and becomes ready empty, long before StateTransferTimeout; the kv app never
// sees the request and keeps working.
func TestJoinerGoesOnWhenPeerRunsNoSessionManager(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, ach, app := newKVChannel(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "b", StateTransferTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // well within the timeout
	defer cancel()
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v (the joiner should not wait for StateTransferTimeout)", err)
	}
	checkNoManager(t, j)
	if st := ach.Stats(); st.Unhandled != 1 || st.ListenerFailures != 0 {
		t.Errorf("kv node: unhandled %d, listener failures %d; want 1, 0", st.Unhandled, st.ListenerFailures)
	}
	to := []channel.Member{ach.LocalMember()}
	if err := j.ch.Send(ctx, to, []byte("kv:put"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatalf("the kv app's message: %v", err)
	}
	if app.own.Load() != 1 || app.foreign.Load() != 1 {
		t.Errorf("kv app: %d own messages delivered, %d foreign refused; want 1, 1", app.own.Load(), app.foreign.Load())
	}
}

// With Config.MemberWait the joiner asks a member that answered FAIL_ACK again until the
// wait ends (it may be a session node that does not list the joiner yet, see the next
// test), then becomes ready empty: at the end of MemberWait, not of StateTransferTimeout.
func TestJoinerAsksFailAckMemberUntilMemberWaitEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		_, ach, _ := newKVChannel(t, nw)
		start := time.Now()
		j := startNode(t, nw, delta.Config{JvmRoute: "b", MemberWait: 3 * time.Second})
		if err := j.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) != 3*time.Second {
			t.Errorf("ready after %v, want the 3 s of MemberWait", time.Since(start))
		}
		checkNoManager(t, j)
		if n := ach.Stats().Unhandled; n != 4 {
			t.Errorf("the kv node refused %d requests, want 4 (at 0, 1, 2 and 3 s)", n)
		}
	})
}

// hideMember is an interceptor under which the channel does not list one member yet, as
// the membership of a node that has not heard from a restarted one: the channel drops
// that member's messages (FAIL_ACK to a synchronized ack, channel.ErrNotMember).
type hideMember struct {
	channel.InterceptorBase
	hidden atomic.Pointer[channel.MemberKey]
}

func (h *hideMember) Member(k channel.MemberKey) (channel.Member, bool) {
	if p := h.hidden.Load(); p != nil && *p == k {
		return channel.Member{}, false
	}
	return h.InterceptorBase.Member(k)
}

// A FAIL_ACK may also come from a session node that does not list the joiner yet: the
// joiner asks again during MemberWait and gets every session once the donor lists it.
// The donor's channel refuses the request itself, or, with AcceptNonMembers (as next to
// StaticMembershipService), its session cluster does.
func TestJoinerAsksAgainAfterNonMemberFailAck(t *testing.T) {
	for _, acceptNonMembers := range []bool{false, true} {
		t.Run(fmt.Sprintf("AcceptNonMembers=%v", acceptNonMembers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testAskAgainAfterNonMemberFailAck(t, acceptNonMembers) })
		})
	}
}

func testAskAgainAfterNonMemberFailAck(t *testing.T, acceptNonMembers bool) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	hide := &hideMember{}
	atn := nw.NewNode()
	ach, err := channel.New(channel.Config{Transport: atn.Transport(), Membership: atn.Membership(),
		HeartbeatInterval: -1, Interceptors: []channel.Interceptor{hide}, AcceptNonMembers: acceptNonMembers})
	if err != nil {
		t.Fatal(err)
	}
	if err := ach.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ach.Stop(ctx, channel.SvcAll) })
	a := startManager(t, atn, ach, delta.Config{JvmRoute: "a"})
	if err := a.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	ids := fill(t, a, 20)
	refused := func() uint64 {
		if acceptNonMembers {
			return a.cl.Stats().RefusedNonMember
		}
		return ach.Stats().NonMemberDropped
	}

	jtn, jch := newChannel(t, nw)
	k := jtn.Member().Key()
	hide.hidden.Store(&k)
	j := startManager(t, jtn, jch, delta.Config{JvmRoute: "j", MemberWait: 3 * time.Second})
	time.Sleep(1500 * time.Millisecond)
	synctest.Wait()
	if j.m.Ready() || refused() != 2 {
		t.Fatalf("ready %v, requests refused as a non-member's %d (want 2: at 0 and 1 s)", j.m.Ready(), refused())
	}
	hide.hidden.Store(nil)
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	checkAll(t, j, ids)
	if st := j.m.Stats(); st.TransferAttempts != 1 || st.TransferNoManager != 0 || st.TransferDonor != a.tn.Member().Addr() {
		t.Errorf("attempts %d, no manager %d, donor %q", st.TransferAttempts, st.TransferNoManager, st.TransferDonor)
	}
}

// countAll is a listener that takes every message and counts them.
type countAll struct{ n *atomic.Int32 }

func (countAll) Accept(*channel.Message) bool { return true }

func (c countAll) MessageReceived(*channel.Message) error {
	c.n.Add(1)
	return nil
}

// A member that ACKs the request takes it: the joiner waits for its answer and does not
// ask again before TransferIdleTimeout, since a Tomcat donor serialises every session
// anew for each request and acknowledges only once it has sent them. Here the member
// ACKs and never answers (a Java node with no session cluster, or a catch-all listener):
// with TransferIdleTimeout negative the joiner asks once and gives up at
// StateTransferTimeout, as Tomcat's DeltaManager does; with 3 s it asks again after 3 s,
// then after 6 s more (9 s), and gives up at 10 s.
func TestJoinerAsksOnceAMemberThatAcks(t *testing.T) {
	for _, tc := range []struct {
		idle time.Duration
		want int32
	}{{-1, 1}, {3 * time.Second, 3}} {
		t.Run(fmt.Sprint(tc.idle), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				nw := channeltest.NewNetwork()
				atn := nw.NewNode()
				ach, err := channel.New(channel.Config{Transport: atn.Transport(), Membership: atn.Membership(),
					HeartbeatInterval: -1})
				if err != nil {
					t.Fatal(err)
				}
				var requests atomic.Int32
				ach.AddMessageListener(countAll{&requests})
				if err := ach.Start(context.Background(), channel.SvcAll); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = ach.Stop(context.Background(), channel.SvcAll) })
				j := startNode(t, nw, delta.Config{JvmRoute: "j", MemberWait: 3 * time.Second,
					StateTransferTimeout: 10 * time.Second, TransferIdleTimeout: tc.idle})
				err = j.m.WaitReady(context.Background())
				if !errors.Is(err, delta.ErrStateTransferTimeout) {
					t.Fatalf("WaitReady: %v, want the state transfer timeout", err)
				}
				if n := requests.Load(); n != tc.want {
					t.Errorf("the member received %d requests in 10 s, want %d", n, tc.want)
				}
				if n := j.m.Stats().TransferAskedAgain; n != uint64(tc.want-1) {
					t.Errorf("TransferAskedAgain %d, want %d", n, tc.want-1)
				}
			})
		})
	}
}

// Over loopback TCP (transport/nio): the FAIL_ACK reaches the joiner through the real
// receiver and sender, retry included.
func TestJoinerGoesOnWhenPeerRunsNoSessionManagerTCP(t *testing.T) {
	ach, ams := startTCPChannel(t)
	app := &kvApp{}
	ach.AddMessageListener(app)
	bch, bms := startTCPChannel(t)
	if err := ams.Add(context.Background(), bch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if err := bms.Add(context.Background(), ach.LocalMember()); err != nil {
		t.Fatal(err)
	}
	m := startJoiner(t, bch, delta.ClusterConfig{}, delta.Config{JvmRoute: "b", MemberWait: -1, StateTransferTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v (the joiner should not wait for StateTransferTimeout)", err)
	}
	checkNoManager(t, &node{m: m})
	if st := ach.Stats(); st.Unhandled == 0 || app.own.Load() != 0 {
		t.Errorf("kv node: unhandled %d, kv messages %d", st.Unhandled, app.own.Load())
	}
}
