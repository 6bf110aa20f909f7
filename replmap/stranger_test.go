package replmap

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

// On a channel with AcceptNonMembers, the setting docs/tomcat.md and interop/tomcat give
// the Go side of a Tomcat cluster (StaticMembershipService's replies come from nodes not
// listed yet), the channel delivers every sender's messages. session/delta refuses a
// non-member's session messages on its own (security.md: "a stranger asking for or
// changing sessions"; ClusterStats.RefusedNonMember), and so does the map BackupManager's
// sessions live in: before, it applied a stranger's MapMessages, a MSG_REMOVE deleting an
// entry (every session on the node, one message each), a MSG_BACKUP planting one, and
// answered its MSG_STATE_COPY with every entry. Stats.RefusedNonMember counts them.
func TestStrangerMapMessagesIgnored(t *testing.T) {
	nw := channeltest.NewNetwork()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1,
		AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	m, err := New(Config{Channel: ch, Name: "localhost#/app-map"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Stop(context.Background()) }()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Put(context.Background(), "SESSION1", "v"); err != nil {
		t.Fatal(err)
	}
	stranger := wire.Member{Port: 4666, SecurePort: -1, UDPPort: -1, Host: []byte{10, 6, 6, 6}, UniqueID: wire.UniqueID{6, 6}}
	if _, ok := ch.Member(stranger.Key()); ok {
		t.Fatal("the stranger is a member")
	}
	key, _ := jserial.Marshal("SESSION1")
	planted, _ := jserial.Marshal("PLANTED")
	value, _ := jserial.Marshal("stranger's value")
	l := &listener{m}
	for _, mm := range []*message{
		{MapID: m.id, Type: msgRemove, Key: key},
		{MapID: m.id, Type: msgBackup, Key: planted, Value: value, Primary: &stranger,
			Nodes: []channel.Member{ch.LocalMember()}},
	} {
		b, err := m.codec.marshal(mm)
		if err != nil {
			t.Fatal(err)
		}
		msg := &channel.Message{Data: b, Source: stranger}
		if !l.Accept(msg) {
			t.Fatal("the map does not take its message")
		}
		_ = l.MessageReceived(msg)
	}
	if v, _, ok := m.Peek("SESSION1"); !ok || v != "v" {
		t.Errorf("a non-member's MSG_REMOVE removed the entry (held %v %v)", v, ok)
	}
	if v := Held(m, "PLANTED"); v != nil {
		t.Errorf("a non-member's MSG_BACKUP planted an entry: %v", v)
	}
	if got := m.Stats().RefusedNonMember; got != 2 {
		t.Errorf("RefusedNonMember %d, want 2", got)
	}

	// The requests that give entries away (a state transfer's, MSG_RETRIEVE_BACKUP) are
	// refused too; MSG_INIT is answered, as to a joiner the membership does not list yet.
	for _, typ := range []msgType{msgStateCopy, msgState, msgRetrieveBackup} {
		req, err := m.codec.object(&message{MapID: m.id, Type: typ, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := m.reply(req, stranger); !errors.Is(err, channel.ErrNotMember) || r != nil {
			t.Errorf("a non-member's %s: %v, %v; want no reply and ErrNotMember", typ, r, err)
		}
	}
	req, _ := m.codec.object(&message{MapID: m.id, Type: msgInit})
	if r, err := m.reply(req, stranger); err != nil || r == nil {
		t.Errorf("a non-member's MSG_INIT: %v, %v", r, err)
	}
	if got := m.Stats().RefusedNonMember; got != 5 {
		t.Errorf("RefusedNonMember %d, want 5", got)
	}
}
