package replmap

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

// A MSG_START naming a sender the channel does not list (a stranger, delivered with
// AcceptNonMembers, or named as the starting map by a member's plain MSG_START) made a
// node take over the entries it backs up for that sender, as for a map member that
// restarted: they turned primary here (MadePrimary called) though their primary lived
// on. The membership check came only after, in mapMemberAdded. Now a stranger's
// MSG_START changes nothing: neither a republish nor a take-over.
func TestStrangerStartTakesNothingOver(t *testing.T) {
	nw := channeltest.NewNetwork()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1,
		AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	var made []any
	m, err := New(Config{Channel: ch, Name: "stranger-start", MadePrimary: func(_ context.Context, key, _ any) { made = append(made, key) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Stop(context.Background()) }()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stranger := wire.Member{Port: 4666, SecurePort: -1, UDPPort: -1, Host: []byte{10, 6, 6, 6}, UniqueID: wire.UniqueID{6, 6}}
	key, _ := jserial.Marshal("k")
	value, _ := jserial.Marshal("v")
	// The entry this node backs up for the stranger, as if it had been a member.
	if _, _, err := m.update("k", "v", &message{MapID: m.id, Type: msgBackup, Key: key, Value: value, Primary: &stranger,
		Nodes: []channel.Member{ch.LocalMember()}}, stranger); err != nil {
		t.Fatal(err)
	}
	req, err := m.codec.object(&message{MapID: m.id, Type: msgStart, Primary: &stranger})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = m.reply(req, stranger)
	if err := m.received(context.Background(), &message{MapID: m.id, Type: msgStart, Primary: &stranger}, stranger); err != nil {
		t.Fatal(err)
	}
	if v, primary, ok := m.Peek("k"); !ok || primary || v != "v" {
		t.Errorf("the entry backed up for the stranger after its MSG_START: %v, primary %v, held %v; want its backup still",
			v, primary, ok)
	}
	if len(made) != 0 {
		t.Errorf("MadePrimary called for %v after a stranger's MSG_START", made)
	}
}
