package replmap

import (
	"context"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/jmember"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/wire"
)

// A message whose primary and 1024 nodes all refer to one member object of 64 KiB (5
// bytes a reference) decodes that member once: before, every reference decoded and copied
// it again (134 MB for a 71 KB message).
func TestSharedMemberDecodedOnce(t *testing.T) {
	big := wire.Member{Port: 4000, SecurePort: -1, UDPPort: -1, Host: []byte{10, 0, 0, 1}, UniqueID: wire.UniqueID{1}}
	big.Payload = make([]byte, wire.MaxMemberSize-big.EncodedLen())
	nodes := make([]channel.Member, maxNodes)
	for i := range nodes {
		nodes[i] = big
	}
	c := newCodec(jmember.SUID, DefaultMaxMessageBytes)
	in, err := c.marshal(&message{MapID: []byte("m"), Type: msgBackup, Key: []byte{1}, Primary: &big, Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	var m *message
	got := testutil.Allocated(func() { m, err = c.unmarshal(in) })
	if err != nil || len(m.Nodes) != maxNodes || m.Nodes[maxNodes-1].Key() != big.Key() {
		t.Fatalf("%v", err)
	}
	if limit := uint64(4*len(in) + 1<<20); got > limit {
		t.Errorf("a %d-byte message: %d bytes allocated, want at most %d", len(in), got, limit)
	}
}

// A state transfer's list that holds one entry many times (5 bytes a reference) applies it
// once: before, each reference decoded the entry's value again (67 MB for a list of 256
// references to a 256 KiB value).
func TestStateListSharedEntry(t *testing.T) {
	nw := channeltest.NewNetwork()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	m, err := New(Config{Channel: ch, Name: "shared", Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Stop(context.Background()) }()

	key, _ := jserial.Marshal("k")
	value, _ := jserial.Marshal(strings.Repeat("v", 256<<10))
	from := tn.Member()
	o, err := m.codec.object(&message{MapID: m.id, Type: msgCopy, Key: key, Value: value, Primary: &from})
	if err != nil {
		t.Fatal(err)
	}
	list := make([]any, 256)
	for i := range list {
		list[i] = o
	}
	in, err := jserial.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	var entries []*message
	got := testutil.Allocated(func() {
		if entries, err = m.codec.stateList(in, m.cfg.MaxEntries); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := m.received(context.Background(), e, from); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(entries) != 1 {
		t.Errorf("%d entries from one entry listed 256 times, want 1", len(entries))
	}
	if limit := uint64(8*len(in) + 1<<20); got > limit {
		t.Errorf("a %d-byte state list: %d bytes allocated, want at most %d", len(in), got, limit)
	}
}
