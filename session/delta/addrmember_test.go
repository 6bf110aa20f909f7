package delta_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/wire"
)

// TestMembersListedByAddressReplicate: two nodes whose static memberships list each other
// without a unique id (host:port, as node.Config.StaticMembers allows: such a member
// stands for whichever node runs at its address, and the channel's sender check takes
// its messages) share their sessions: the joiner gets the first node's by state
// transfer, and a session made afterwards reaches it, no message refused as a
// non-member's.
func TestMembersListedByAddressReplicate(t *testing.T) {
	nw := channeltest.NewNetwork()
	na, nb := nw.NewNode(), nw.NewNode()
	byAddress := func(n *channeltest.Node) channel.Member {
		return wire.Member{Host: []byte{127, 0, 0, 1}, Port: n.Port(), SecurePort: -1, UDPPort: -1}
	}
	newChannel := func(n, peer *channeltest.Node) *channel.Channel {
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: static.New(byAddress(peer)),
			HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)
		return ch
	}
	cha, chb := newChannel(na, nb), newChannel(nb, na)
	a := startManager(t, na, cha, delta.Config{JvmRoute: "a"})
	if err := a.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := create(t, a, "user", "alice")
	b := startManager(t, nb, chb, delta.Config{JvmRoute: "b", MemberWait: testutil.WaitLimit})
	if err := b.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := b.m.Find(first.ID()); s == nil {
		t.Error("the joiner lacks the session made before it joined")
	} else if v, _ := delta.Attr[string](s, "user"); v != "alice" {
		t.Errorf("the joiner's copy: user = %q; want alice", v)
	}
	second := create(t, a, "user", "bob")
	if s := b.m.Find(second.ID()); s == nil {
		t.Error("B lacks the session made on A")
	} else if v, _ := delta.Attr[string](s, "user"); v != "bob" {
		t.Errorf("B's copy: user = %q; want bob", v)
	}
	for _, n := range []*node{a, b} {
		if st := n.cl.Stats(); st.RefusedNonMember != 0 || st.UnlistedHeld != 0 {
			t.Errorf("%s refused %d and held %d messages as a non-member's", n.m.Name(), st.RefusedNonMember, st.UnlistedHeld)
		}
	}
}

// TestTomcatJoinerListedByAddressLaterGetsTheSessions is
// TestTomcatJoinerAskingBeforeItIsListedGetsTheSessions with the donor's membership
// listing the joiner by address alone: its request, held while the joiner was not
// listed, is answered once that record is, the record standing for the node at its
// address (before, the request, held under the key with the joiner's id, waited out
// UnlistedRequestWait and was dropped).
func TestTomcatJoinerListedByAddressLaterGetsTheSessions(t *testing.T) {
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
		if err := jch.SendMessage(context.Background(), []channel.Member{donor},
			&channel.Message{Options: channel.OptAsync, Data: getAll(t)}); err != nil {
			t.Fatalf("the asynchronous request: %v", err)
		}
		synctest.Wait()
		if st := cl.Stats(); st.UnlistedHeld != 1 {
			t.Errorf("before the donor lists the joiner: held %d messages; want 1", st.UnlistedHeld)
		}

		time.Sleep(2 * time.Second) // the donor's membership lags
		jl := jch.LocalMember()
		view.list(wire.Member{Host: jl.Host, Port: jl.Port, SecurePort: -1, UDPPort: -1})
		synctest.Wait()
		mu.Lock()
		slices.Sort(got)
		slices.Sort(ids)
		if !slices.Equal(got, ids) || complete != 1 {
			t.Errorf("the joiner got sessions %q and %d EVT_ALL_SESSION_TRANSFERCOMPLETE, want %q and 1", got, complete, ids)
		}
		mu.Unlock()
		if st := cl.Stats(); st.UnlistedAnswered != 1 || st.UnlistedHeld != 0 || st.UnlistedDropped != 0 || m.Stats().SessionsServed != 3 {
			t.Errorf("answered %d held requests, %d still held, %d dropped, served %d sessions; want 1, 0, 0, 3",
				st.UnlistedAnswered, st.UnlistedHeld, st.UnlistedDropped, m.Stats().SessionsServed)
		}
	})
}

// TestProbeForMemberListedByAddressNamesItsNode: a node whose membership lists a member
// by address alone relays that member's probe with the ping naming the member's own
// unique id, as its messages carry it. The record has none: a ping naming the zero id
// (before: the record's) made the member pinged record a cut by an id lower than any,
// stand down, and check no member for it, since none it lists has that id.
func TestProbeForMemberListedByAddressNamesItsNode(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	np, nb, nx := nw.NewNode(), nw.NewNode(), nw.NewNode()
	byAddress := func(n *channeltest.Node) channel.Member {
		return wire.Member{Host: []byte{127, 0, 0, 1}, Port: n.Port(), SecurePort: -1, UDPPort: -1}
	}
	newChannel := func(n *channeltest.Node, peers ...channel.Member) *channel.Channel {
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: static.New(peers...),
			HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)
		return ch
	}
	chx := newChannel(nx, byAddress(np))
	pings := make(chan []byte, 4)
	chx.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		select {
		case pings <- bytes.Clone(msg.Data):
		default:
		}
		return nil
	}))
	chp := newChannel(np, byAddress(nb), chx.LocalMember())
	cl := newCluster(t, chp, delta.ClusterConfig{Codec: delta.BinaryCodec{}})
	t.Cleanup(func() { _ = cl.Close(ctx) })
	chb := newChannel(nb, byAddress(np))
	if err := chb.Send(ctx, chb.Members(), delta.ProbeRequest(chx.LocalMember().UniqueID), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-pings:
		if want := delta.ProbePing(chb.LocalMember().UniqueID); !bytes.Equal(got, want) {
			t.Errorf("the ping relayed to x: %x; want %x, naming the prober's unique id %v", got, want, chb.LocalMember().UniqueID)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("x got no ping on the prober's behalf")
	}
}
