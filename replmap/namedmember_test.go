package replmap

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

// namedMemberNodes starts, on one network, channels with AcceptNonMembers (the Go side
// of a Tomcat cluster) for n nodes and the map "named" on the first mapped of them, and
// waits until each map lists the others.
func namedMemberNodes(t *testing.T, n, mapped int) ([]*channel.Channel, []*Map) {
	t.Helper()
	return namedMemberNodesOn(t, channeltest.NewNetwork(), n, mapped)
}

func namedMemberNodesOn(t *testing.T, nw *channeltest.Network, n, mapped int) ([]*channel.Channel, []*Map) {
	t.Helper()
	chs := make([]*channel.Channel, n)
	for i := range chs {
		tn := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1,
			AcceptNonMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)
		chs[i] = ch
	}
	for _, ch := range chs {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(ch.Members()) == n-1 })
	}
	maps := make([]*Map, mapped)
	for i := range maps {
		m, err := New(Config{Channel: chs[i], Name: "named", RPCTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Stop(context.Background()) })
		maps[i] = m
	}
	for _, m := range maps {
		if err := m.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range maps {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "map members", func() bool { return len(m.Members()) == mapped-1 })
	}
	return chs, maps
}

// An RPC reply for a call the node does not know goes to the map's LeftOver (as Java's
// RpcCallback.leftOver), from anyone the channel delivers, a stranger's with
// AcceptNonMembers. The map took the member its MSG_START, MSG_INIT or MSG_PING reply
// names, not its sender: anyone could make any channel member a map member, one that
// runs no such map (another application's Tomcat node) included, and the map then
// picked its Puts' backups among them (a Java node without the map acknowledges such a
// backup and drops it: the value lived on its primary alone). Now a left-over reply
// counts only for a sender that names itself.
func TestLeftOverReplyNamingAnotherMemberIgnored(t *testing.T) {
	chs, maps := namedMemberNodes(t, 3, 1)
	m, other, sender := maps[0], chs[1].LocalMember(), chs[2].LocalMember()
	stranger := wire.Member{Port: 4666, SecurePort: -1, UDPPort: -1, Host: []byte{10, 6, 6, 6}, UniqueID: wire.UniqueID{6, 6}}
	initialized, err := jserial.Marshal(&jserial.Enum{Class: m.codec.state, Name: stateNames[stateInitialized]})
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []channel.Member{stranger, sender} {
		for _, typ := range []msgType{msgStart, msgInit, msgPing} {
			reply, err := m.codec.object(&message{MapID: m.id, Type: typ, Primary: &other, Value: initialized})
			if err != nil {
				t.Fatal(err)
			}
			m.leftOver(reply, from)
			if got := m.Members(); len(got) != 0 {
				t.Fatalf("a %s reply of %s naming %s made the map list %v", typ, from.Addr(), other.Addr(), got)
			}
		}
	}
	// A member's reply naming itself still makes it a map member (a Java map's late
	// answer to MSG_START).
	reply, err := m.codec.object(&message{MapID: m.id, Type: msgStart, Primary: &sender})
	if err != nil {
		t.Fatal(err)
	}
	m.leftOver(reply, sender)
	if got := m.Members(); len(got) != 1 || got[0].Key() != sender.Key() {
		t.Errorf("a member's MSG_START reply naming itself: map members %v, want %s", got, sender.Addr())
	}
}

// A plain MSG_STOP says that its sender's map stopped; the node dropped the map member
// it names instead (as Java's messageReceived does), so that one member could make a
// node drop another, live one (its backups then published anew, its entries backed up
// here taken over: two primaries). Now a MSG_STOP or MSG_START naming another member
// than its sender is refused with an error wrapping ErrBadMessage, and changes nothing.
func TestStopNamingAnotherMemberRefused(t *testing.T) {
	chs, maps := namedMemberNodes(t, 3, 3)
	m, sender, named := maps[0], chs[1].LocalMember(), chs[2].LocalMember()
	for _, typ := range []msgType{msgStop, msgStart} {
		err := m.received(context.Background(), &message{MapID: m.id, Type: typ, Primary: &named}, sender)
		if !errors.Is(err, ErrBadMessage) {
			t.Errorf("a %s from %s naming %s: %v, want ErrBadMessage", typ, sender.Addr(), named.Addr(), err)
		}
		if got := m.Members(); len(got) != 2 {
			t.Fatalf("after a %s of %s naming %s the map lists %v, want both", typ, sender.Addr(), named.Addr(), got)
		}
	}
	// The sender's own MSG_STOP still drops it.
	if err := m.received(context.Background(), &message{MapID: m.id, Type: msgStop, Primary: &sender}, sender); err != nil {
		t.Fatal(err)
	}
	if got := m.Members(); len(got) != 1 || got[0].Key() != named.Key() {
		t.Errorf("after the sender's own MSG_STOP the map lists %v, want %s alone", got, named.Addr())
	}
}

// Pinned, not defended: a member vouches for the nodes its messages name as an entry's
// primary and backup (as in Java, and as a coordinator's view does: docs/security.md).
// A member's MSG_PROXY naming a node that is no member as the backup makes a Get of the
// key on this node ask that node for the value, its key (a session id, for
// session/backup) in the request. Only a member can do it; members hold every
// session already.
func TestProxyNamingANonMemberMakesGetAskIt(t *testing.T) {
	nw := channeltest.NewNetwork()
	chs, maps := namedMemberNodesOn(t, nw, 2, 2)
	m, member := maps[0], chs[1].LocalMember()
	st := nw.NewNode() // no membership: no node lists it
	stranger, err := channel.New(channel.Config{Transport: st.Transport(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := stranger.Start(context.Background(), channel.SvcTransport); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stranger.Stop(context.Background(), channel.SvcTransport) })
	asked := make(chan []byte, 4)
	stranger.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		asked <- msg.Data
		return nil
	}))
	sm := stranger.LocalMember()
	if _, ok := chs[0].Member(sm.Key()); ok {
		t.Fatal("the stranger is a member")
	}
	key, err := jserial.Marshal("SESSION-ID-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.received(context.Background(), &message{MapID: m.id, Type: msgProxy, Key: key, Primary: &sm,
		Nodes: []channel.Member{sm}}, member); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Get(context.Background(), "SESSION-ID-1"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get of a key whose backup the stranger is: %v, want ErrUnavailable (it does not answer)", err)
	}
	select {
	case data := <-asked:
		if !bytes.Contains(data, []byte("SESSION-ID-1")) {
			t.Errorf("the stranger got a message without the key: %q", data)
		}
	default:
		t.Error("the stranger was not asked: the member's MSG_PROXY is no longer followed (update this pinned test and docs/security.md)")
	}
}
