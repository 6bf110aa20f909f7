package replmap

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
)

// stateListMap returns a started channel's replicated map (no other member) and the
// local member, to feed state lists to (tests only).
func stateListMap(t *testing.T, name string) (*Map, channel.Member) {
	t.Helper()
	nw := channeltest.NewNetwork()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	m, err := New(Config{Channel: ch, Name: name, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return m, tn.Member()
}

// applyStateList decodes a state list and applies its entries as transferState does,
// returning what that allocated.
func applyStateList(t *testing.T, m *Map, from channel.Member, in []byte) uint64 {
	t.Helper()
	var entries []*message
	var err error
	return testutil.Allocated(func() {
		if entries, err = m.codec.stateList(in, m.cfg.MaxEntries); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			_ = m.received(context.Background(), e, from)
		}
	})
}

// A state transfer's list of distinct entries whose valuedata all refer to one byte[]
// (5 bytes a reference; no Java or Go donor writes that: each MapMessage serializes its
// own value) costs about the list's size, as TestStateListSharedEntry asks of one entry
// listed many times: the entries after the first that reuse an array are refused
// (received returns the error stateList set). Before, received decoded each entry's value
// stream anew and the map held a copy per entry: a 260 KB reply of 256 entries sharing a
// 256 KiB value made the joiner allocate and hold 64 MiB and more.
func TestStateListSharedValueDataRefused(t *testing.T) {
	m, from := stateListMap(t, "shared-value")
	value, _ := jserial.Marshal(strings.Repeat("v", 256<<10))
	list := make([]any, 256)
	for i := range list {
		key, _ := jserial.Marshal(fmt.Sprint("k", i))
		o, err := m.codec.object(&message{MapID: m.id, Type: msgCopy, Key: key, Value: value, Primary: &from})
		if err != nil {
			t.Fatal(err)
		}
		list[i] = o
	}
	in, err := jserial.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) > 300<<10 {
		t.Fatalf("the list is %d bytes: the encoder did not share the value", len(in))
	}
	got := applyStateList(t, m, from, in)
	if limit := uint64(8*len(in) + 1<<20); got > limit {
		t.Errorf("a %d-byte state list of 256 entries sharing one value: %d bytes allocated (%d entries, %d stored bytes), want at most %d",
			len(in), got, m.Stats().Entries, m.Stats().StoredBytes, limit)
	}
}

// The same with the keydata: distinct entry objects of one key, all referring to one
// 256 KiB key stream. The map ends with one entry; before, received decoded the key
// stream and update copied it into a string for every entry (128 MiB for a 260 KB list).
func TestStateListSharedKeyDataRefused(t *testing.T) {
	m, from := stateListMap(t, "shared-key")
	key, _ := jserial.Marshal(strings.Repeat("k", 256<<10))
	value, _ := jserial.Marshal("v")
	list := make([]any, 256)
	for i := range list {
		o, err := m.codec.object(&message{MapID: m.id, Type: msgCopy, Key: key, Value: value, Primary: &from})
		if err != nil {
			t.Fatal(err)
		}
		list[i] = o
	}
	in, err := jserial.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if len(in) > 300<<10 {
		t.Fatalf("the list is %d bytes: the encoder did not share the key", len(in))
	}
	got := applyStateList(t, m, from, in)
	if m.Stats().Entries != 1 {
		t.Fatalf("%d entries, want 1", m.Stats().Entries)
	}
	if limit := uint64(8*len(in) + 1<<20); got > limit {
		t.Errorf("a %d-byte state list of 256 entries of one shared key: %d bytes allocated, want at most %d",
			len(in), got, limit)
	}
}
