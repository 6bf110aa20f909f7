package interceptors

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

func newFrag(t testing.TB, cfg FragmentationConfig) *Fragmentation {
	t.Helper()
	f, err := NewFragmentation(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The spec's sample: maxSize 4, "0123456789" → three pieces with Java's trailers; a small
// message gets the single byte 00.
func TestFragmentationWire(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newNode(t, nw, newFrag(t, FragmentationConfig{MaxSize: 4})), newNode(t, nw, newFrag(t, FragmentationConfig{MaxSize: 4}))
	startNodes(t, a, b)
	a.send(t, b, []byte("0123456789"), channel.OptUseAck)
	a.send(t, b, []byte("0123"), channel.OptUseAck)
	w := a.tap.sent()
	want := []string{
		"30313233" + "00000000" + "00000003" + "01",
		"34353637" + "00000001" + "00000003" + "01",
		"3839" + "00000002" + "00000003" + "01",
		"30313233" + "00",
	}
	if len(w) != len(want) {
		t.Fatalf("%d messages on the wire", len(w))
	}
	for i := range want {
		if got := hex.EncodeToString(w[i].Data); got != want[i] {
			t.Errorf("wire %d: %s, want %s", i, got, want[i])
		}
		if i < 3 && !bytes.Equal(w[i].ID, w[0].ID) {
			t.Errorf("piece %d has another message id", i)
		}
	}
	if got := fmt.Sprintf("%s", b.payloads()); got != "[0123456789 0123]" {
		t.Fatalf("delivered %s", got)
	}
	for i, p := range SplitFragments([]byte("0123456789"), 4) {
		if hex.EncodeToString(p) != want[i] {
			t.Fatalf("SplitFragments piece %d: %x", i, p)
		}
	}
}

// Sizes around the limit and many pieces round-trip.
func TestFragmentationRoundTrip(t *testing.T) {
	nw := channeltest.NewNetwork()
	fa, fb := newFrag(t, FragmentationConfig{MaxSize: 1000}), newFrag(t, FragmentationConfig{MaxSize: 1000})
	a, b := newNode(t, nw, fa), newNode(t, nw, fb)
	startNodes(t, a, b)
	sizes := []int{0, 1, 999, 1000, 1001, 2000, 2001, 64 << 10, 1 << 20}
	for i, size := range sizes {
		data := sessionPayload(size, uint64(i))
		a.send(t, b, data, channel.OptUseAck|channel.OptSyncAck)
		if got := b.messages()[i]; !bytes.Equal(got.Data, data) {
			t.Fatalf("size %d: content differs (%d bytes)", size, len(got.Data))
		}
	}
	if s := fa.Stats(); s.SentSplit != 5 || s.SentWhole != 4 {
		t.Fatalf("sender stats %+v", s)
	}
	if s := fb.Stats(); s.Reassembled != 5 || s.Pending != 0 {
		t.Fatalf("receiver stats %+v", s)
	}
}

func piece(src channel.Member, id []byte, data []byte, maxSize, i int) *channel.Message {
	count := (len(data) + maxSize - 1) / maxSize
	return &channel.Message{ID: id, Source: src, Data: fragmentPiece(data, maxSize, i, count)}
}

// Pieces arriving in any order, interleaved with another sender's message that has the
// same id, reassemble separately; the first piece's envelope is delivered.
func TestFragmentationReassembly(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := newNode(t, nw, newFrag(t, FragmentationConfig{AcceptNonMembers: true}))
	s1, s2 := fakeMember(1), fakeMember(2)
	id := channel.NewMessageID()
	d1, d2 := []byte("abcdefghij"), []byte("ABCDEFGHIJKL")
	steps := []*channel.Message{
		piece(s1, id, d1, 4, 2), piece(s2, id, d2, 4, 1), piece(s1, id, d1, 4, 0),
		piece(s2, id, d2, 4, 0), piece(s1, id, d1, 4, 0) /* duplicate */, piece(s2, id, d2, 4, 2),
		piece(s1, id, d1, 4, 1),
	}
	steps[0].Timestamp = 42
	for _, m := range steps {
		if err := n.tap.inject(m); err != nil {
			t.Fatal(err)
		}
	}
	got := n.messages()
	if len(got) != 2 || string(got[0].Data) != "ABCDEFGHIJKL" || string(got[1].Data) != "abcdefghij" {
		t.Fatalf("delivered %q", n.payloads())
	}
	if got[1].Timestamp != 42 || !got[1].Source.Equal(s1) {
		t.Fatalf("envelope not the first piece's: %+v", got[1])
	}
}

// Incomplete messages are dropped by the heartbeat once Expire has passed.
func TestFragmentationExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		f := newFrag(t, FragmentationConfig{AcceptNonMembers: true})
		n := newNode(t, nw, f)
		src := fakeMember(1)
		id := channel.NewMessageID()
		n.tap.inject(piece(src, id, []byte("0123456789"), 4, 0))
		time.Sleep(59 * time.Second)
		n.ch.Heartbeat()
		if f.Stats().Pending != 1 {
			t.Fatal("expired too early")
		}
		time.Sleep(2 * time.Second)
		n.ch.Heartbeat()
		if s := f.Stats(); s.Pending != 0 || s.Expired != 1 {
			t.Fatalf("stats %+v", s)
		}
		// The rest arriving now starts a new (incomplete) collection: nothing is delivered.
		n.tap.inject(piece(src, id, []byte("0123456789"), 4, 1))
		n.tap.inject(piece(src, id, []byte("0123456789"), 4, 2))
		if len(n.messages()) != 0 {
			t.Fatal("delivered a message missing its first piece")
		}
	})
}

func TestFragmentationMalformed(t *testing.T) {
	nw := channeltest.NewNetwork()
	f := newFrag(t, FragmentationConfig{MaxMessageSize: 100, AcceptNonMembers: true})
	n := newNode(t, nw, f)
	src := fakeMember(1)
	trailer := func(idx, count int32) []byte {
		return []byte{byte(idx >> 24), byte(idx >> 16), byte(idx >> 8), byte(idx), byte(count >> 24), byte(count >> 16), byte(count >> 8), byte(count), 1}
	}
	cases := map[string][]byte{
		"empty":          nil,
		"short piece":    {1, 2, 3, 1},
		"index >= count": append([]byte("x"), trailer(3, 3)...),
		"negative index": append([]byte("x"), trailer(-1, 3)...),
		"zero count":     append([]byte("x"), trailer(0, 0)...),
		"too many":       append([]byte("x"), trailer(0, 1000)...),
		"too large":      append(make([]byte, 101), trailer(0, 2)...),
	}
	for name, data := range cases {
		if err := n.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: src, Data: data}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A count that changes between pieces drops the collection.
	id := channel.NewMessageID()
	n.tap.inject(&channel.Message{ID: id, Source: src, Data: append([]byte("a"), trailer(0, 2)...)})
	if err := n.tap.inject(&channel.Message{ID: id, Source: src, Data: append([]byte("b"), trailer(1, 3)...)}); err == nil {
		t.Error("count mismatch accepted")
	}
	if s := f.Stats(); s.Pending != 0 || s.Refused != uint64(len(cases))+1 || len(n.messages()) != 0 {
		t.Fatalf("stats %+v, delivered %d", s, len(n.messages()))
	}
	// Any non-zero marker byte means a piece, as in Java.
	if _, piece, _, _, err := ParseFragment(append([]byte("x"), 0, 0, 0, 0, 0, 0, 0, 1, 7)); err != nil || !piece {
		t.Fatalf("marker 7: piece=%v err=%v", piece, err)
	}
}

// With a flag, only flagged messages are split; the receiver strips the byte regardless.
func TestFragmentationFlag(t *testing.T) {
	nw := channeltest.NewNetwork()
	cfg := FragmentationConfig{MaxSize: 4, Flag: 0x1000}
	a, b := newNode(t, nw, newFrag(t, cfg)), newNode(t, nw, newFrag(t, cfg))
	startNodes(t, a, b)
	a.send(t, b, []byte("0123456789"), 0)
	a.send(t, b, []byte("0123456789"), 0x1000)
	if n := len(a.tap.sent()); n != 4 {
		t.Fatalf("%d messages on the wire, want 1 whole + 3 pieces", n)
	}
	if got := fmt.Sprintf("%s", b.payloads()); got != "[0123456789 0123456789]" {
		t.Fatalf("delivered %s", got)
	}
}

// A member that fails a piece gets no more pieces; the others get all of them.
func TestFragmentationPartialFailure(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := newNode(t, nw, newFrag(t, FragmentationConfig{MaxSize: 4}))
	b, c := newNode(t, nw, newFrag(t, FragmentationConfig{})), newNode(t, nw, newFrag(t, FragmentationConfig{}))
	startNodes(t, a, b, c)
	cm := c.member()
	nw.Kill(c.net)
	err := a.ch.Send(t.Context(), []channel.Member{b.member(), cm}, []byte("0123456789"), channel.OptUseAck)
	var se *channel.SendError
	if !errors.As(err, &se) || len(se.Faulty) != 1 || !se.Faulty[0].Member.Equal(cm) {
		t.Fatalf("err %v", err)
	}
	if got := fmt.Sprintf("%s", b.payloads()); got != "[0123456789]" {
		t.Fatalf("b got %s", got)
	}
	if n := len(a.tap.sent()); n != 3 {
		t.Fatalf("%d sends, want 3 (the dead member is dropped after the first piece)", n)
	}
}

func TestFragmentationConfig(t *testing.T) {
	ics, err := Build("fragmentation(maxSize=4096;expire=1000;maxMessageSize=1048576;maxPendingBytes=2097152;acceptNonMembers=true)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := ics[0].(*Fragmentation).Config(); c.MaxSize != 4096 || c.Expire != time.Second || c.MaxMessageSize != 1<<20 ||
		c.MaxPendingBytes != 2<<20 || !c.AcceptNonMembers {
		t.Fatalf("%+v", c)
	}
	if c := newFrag(t, FragmentationConfig{}).Config(); c.MaxSize != 102400 || c.Expire != time.Minute ||
		c.MaxPendingBytes != 1<<30 || c.AcceptNonMembers {
		t.Fatalf("defaults %+v", c)
	}
	if c := newFrag(t, FragmentationConfig{MaxMessageSize: 1 << 30}).Config(); c.MaxPendingBytes != 4<<30 {
		t.Fatalf("MaxPendingBytes %d for MaxMessageSize 1 GiB, want 4 GiB", c.MaxPendingBytes)
	}
	if _, err := NewFragmentation(FragmentationConfig{MaxSize: -1}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Fatal(err)
	}
}

// By default a piece whose sender is not a member is refused before anything is held
// (ErrNotMember, as the channel's check would do with the whole message); a member's is
// collected.
func TestFragmentationRefusesNonMembers(t *testing.T) {
	nw := channeltest.NewNetwork()
	f := newFrag(t, FragmentationConfig{})
	a, b := newCheckingNode(t, nw, f), newNode(t, nw)
	startNodes(t, a, b)
	chunk := []byte("0123456789")
	if err := a.tap.inject(pieceMsg(strangerMember(1), channel.NewMessageID(), chunk, 0, 2)); !errors.Is(err, channel.ErrNotMember) {
		t.Fatalf("a stranger's piece: %v, want ErrNotMember", err)
	}
	if s := f.Stats(); s.Pending != 0 || s.NonMember != 1 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
	if err := a.tap.inject(pieceMsg(b.member(), channel.NewMessageID(), chunk, 0, 2)); err != nil {
		t.Fatalf("a member's piece: %v", err)
	}
	if s := f.Stats(); s.Pending != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A channel that delivers non-members' messages (channel.Config.AcceptNonMembers) has
// their pieces collected too: the interceptor follows the channel's check
// (InterceptorBase.SendersChecked).
func TestFragmentationFollowsAnOpenChannel(t *testing.T) {
	nw := channeltest.NewNetwork()
	f := newFrag(t, FragmentationConfig{})
	a := newNode(t, nw, f)
	startNodes(t, a)
	id := channel.NewMessageID()
	for i, chunk := range []string{"01234", "56789"} {
		if err := a.tap.inject(pieceMsg(strangerMember(1), id, []byte(chunk), i, 2)); err != nil {
			t.Fatalf("piece %d of a non-member on an open channel: %v", i, err)
		}
	}
	if got := a.payloads(); len(got) != 1 || string(got[0]) != "0123456789" {
		t.Fatalf("delivered %q, want the whole message", got)
	}
	if s := f.Stats(); s.NonMember != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// MaxPendingBytes bounds what all senders' incomplete messages hold together, bookkeeping
// included: senders that each stay under MaxMessageSize are refused once it is reached.
func TestFragmentationBoundsAllSenders(t *testing.T) {
	nw := channeltest.NewNetwork()
	const total = 5000
	f := newFrag(t, FragmentationConfig{MaxMessageSize: 1000, MaxPendingBytes: total, AcceptNonMembers: true})
	n := newNode(t, nw, f)
	startNodes(t, n)
	chunk := bytes.Repeat([]byte{'x'}, 600)
	refused := 0
	for i := range 50 {
		if err := n.tap.inject(pieceMsg(strangerMember(i), channel.NewMessageID(), chunk, 0, 2)); err != nil {
			refused++
		}
	}
	f.mu.Lock()
	cost, held := f.cost, 0
	for _, c := range f.pending {
		held += c.size
	}
	f.mu.Unlock()
	if cost > total || held > total || refused == 0 || f.Stats().Pending != 50-refused {
		t.Fatalf("held %d bytes (%d counted), %d refused, stats %+v; MaxPendingBytes %d", held, cost, refused, f.Stats(), total)
	}
	// What expires frees the budget for others.
	f.mu.Lock()
	for _, c := range f.pending {
		c.born = c.born.Add(-2 * f.cfg.Expire)
	}
	f.mu.Unlock()
	n.ch.Heartbeat()
	if err := n.tap.inject(pieceMsg(strangerMember(99), channel.NewMessageID(), chunk, 0, 2)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.senders) != 1 || f.cost != 600+fragPieceCost+fragMessageCost {
		t.Fatalf("after expiry %d senders, cost %d", len(f.senders), f.cost)
	}
}

// pieceMsg is piece idx of count of message id from src, carrying chunk, as the wire does.
func pieceMsg(src channel.Member, id []byte, chunk []byte, idx, count int) *channel.Message {
	d := append([]byte(nil), chunk...)
	d = binary.BigEndian.AppendUint32(d, uint32(idx))
	d = binary.BigEndian.AppendUint32(d, uint32(count))
	return &channel.Message{ID: id, Source: src, Data: append(d, fragPiece)}
}

// MaxMessageSize bounds what one sender's incomplete messages hold together, not only one
// message: a sender that starts many messages (a new message id each, one piece each,
// never the last piece) used to make the receiver hold MaxMessageSize per message id, with
// no limit on the number of ids, for Expire (60 s) each. (Found by review.)
func TestFragmentationBoundsOneSender(t *testing.T) {
	nw := channeltest.NewNetwork()
	const limit = 1000
	f := newFrag(t, FragmentationConfig{MaxMessageSize: limit, AcceptNonMembers: true}) // the sender is invented
	n := newNode(t, nw, f)
	startNodes(t, n)
	src := fakeMember(3)
	chunk := bytes.Repeat([]byte{'x'}, 600) // under the limit per message
	const messages = 50
	for range messages {
		// Errors (refusals) are fine: what matters is what stays held.
		_ = n.tap.inject(pieceMsg(src, channel.NewMessageID(), chunk, 0, 2))
	}
	f.mu.Lock()
	held := 0
	for k, c := range f.pending {
		if k.src == src.Key() {
			held += c.size
		}
	}
	f.mu.Unlock()
	if held > limit {
		t.Fatalf("one sender makes the receiver hold %d bytes of incomplete messages (%d pending, %d refused), MaxMessageSize is %d",
			held, f.Stats().Pending, f.Stats().Refused, limit)
	}
}
