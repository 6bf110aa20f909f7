package interceptors

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

func newTwoPhase(t testing.TB, cfg TwoPhaseCommitConfig) *TwoPhaseCommit {
	t.Helper()
	tp, err := NewTwoPhaseCommit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// The message goes out first, then a confirmation with a new id and the payload
// START | original id | END (Java's bytes); the receiver delivers on confirmation.
func TestTwoPhaseCommitWire(t *testing.T) {
	nw := channeltest.NewNetwork()
	ta, tb := newTwoPhase(t, TwoPhaseCommitConfig{}), newTwoPhase(t, TwoPhaseCommitConfig{})
	a, b := newNode(t, nw, ta), newNode(t, nw, tb)
	startNodes(t, a, b)
	a.send(t, b, []byte("payload"), channel.OptUseAck)
	w := a.tap.sent()
	if len(w) != 2 || string(w[0].Data) != "payload" {
		t.Fatalf("wire: %d messages", len(w))
	}
	conf := hex.EncodeToString(w[1].Data)
	want := "7101c602dec44bb29bf420e3206fd804" + hex.EncodeToString(w[0].ID) + "36f35a6e2fe14be8afe32434c64d9238"
	if conf != want || bytes.Equal(w[1].ID, w[0].ID) || w[1].Options != w[0].Options {
		t.Fatalf("confirmation %s (id %x, options %v), want %s", conf, w[1].ID, w[1].Options, want)
	}
	if got := b.messages(); len(got) != 1 || string(got[0].Data) != "payload" || !bytes.Equal(got[0].ID, w[0].ID) {
		t.Fatalf("delivered %q", b.payloads())
	}
	if s := tb.Stats(); s.Held != 1 || s.Released != 1 || s.HeldNow != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// Unconfirmed messages are held, then dropped after Expire; stray confirmations are
// counted.
func TestTwoPhaseCommitExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		tp := newTwoPhase(t, TwoPhaseCommitConfig{AcceptNonMembers: true}) // invented senders
		n := newNode(t, nw, tp)
		src := fakeMember(1)
		id := channel.NewMessageID()
		n.tap.inject(&channel.Message{ID: id, Source: src, Data: []byte("held")})
		n.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: src, Data: Confirmation(channel.NewMessageID())})
		if len(n.messages()) != 0 || tp.Stats().HeldNow != 1 || tp.Stats().Orphans != 1 {
			t.Fatalf("stats %+v", tp.Stats())
		}
		time.Sleep(61 * time.Second)
		n.ch.Heartbeat()
		if s := tp.Stats(); s.HeldNow != 0 || s.Expired != 1 || s.HeldBytes != 0 {
			t.Fatalf("stats %+v", s)
		}
		n.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: src, Data: Confirmation(id)})
		if len(n.messages()) != 0 {
			t.Fatal("an expired message was delivered")
		}
		// A confirmation from another sender does not release this sender's message.
		id2 := channel.NewMessageID()
		n.tap.inject(&channel.Message{ID: id2, Source: src, Data: []byte("x")})
		n.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: fakeMember(2), Data: Confirmation(id2)})
		if len(n.messages()) != 0 {
			t.Fatal("released by another member's confirmation")
		}
	})
}

// A listener error on the held message reaches the sender of the confirmation as FAIL_ACK.
func TestTwoPhaseCommitListenerError(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newNode(t, nw, newTwoPhase(t, TwoPhaseCommitConfig{})), newNode(t, nw, newTwoPhase(t, TwoPhaseCommitConfig{}))
	b.fail = func(*channel.Message) error { return errors.New("no thanks") }
	startNodes(t, a, b)
	err := a.ch.Send(t.Context(), []channel.Member{b.member()}, []byte("x"), channel.OptUseAck|channel.OptSyncAck)
	if !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("err %v", err)
	}
}

func TestTwoPhaseCommitParse(t *testing.T) {
	id := []byte("0123456789abcdef")
	c := Confirmation(id)
	if got, ok := ParseConfirmation(c, 16); !ok || !bytes.Equal(got, id) {
		t.Fatal("round trip")
	}
	for _, bad := range [][]byte{c[:len(c)-1], append(c, 0), bytes.Repeat([]byte{0}, len(c))} {
		if _, ok := ParseConfirmation(bad, 16); ok {
			t.Fatalf("%x parsed", bad)
		}
	}
	if _, ok := ParseConfirmation(c, 15); ok {
		t.Fatal("wrong id length parsed")
	}
	ics, err := Build("twophasecommit(expire=1000;deepclone=false;maxSenderBytes=1000;maxHeldBytes=2000;acceptNonMembers=true)", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := ics[0].(*TwoPhaseCommit).Config(); c.Expire != time.Second || c.MaxSenderBytes != 1000 || c.MaxHeldBytes != 2000 || !c.AcceptNonMembers {
		t.Fatalf("%+v", c)
	}
	if c := newTwoPhase(t, TwoPhaseCommitConfig{}).Config(); c.MaxSenderBytes != 256<<20 || c.MaxHeldBytes != 1<<30 || c.AcceptNonMembers {
		t.Fatalf("defaults %+v", c)
	}
	if c := newTwoPhase(t, TwoPhaseCommitConfig{MaxSenderBytes: 2 << 30}).Config(); c.MaxHeldBytes != 2<<30 {
		t.Fatalf("MaxHeldBytes %d for MaxSenderBytes 2 GiB", c.MaxHeldBytes)
	}
}

// A confirmation that overtakes its message is remembered: the message is delivered as
// soon as it arrives (Java would lose it).
func TestTwoPhaseCommitEarlyConfirmation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		tp := newTwoPhase(t, TwoPhaseCommitConfig{AcceptNonMembers: true}) // invented senders
		n := newNode(t, nw, tp)
		src := fakeMember(1)
		id, late := channel.NewMessageID(), channel.NewMessageID()
		n.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: src, Data: Confirmation(id)})
		n.tap.inject(&channel.Message{ID: id, Source: src, Data: []byte("overtaken")})
		if got := n.payloads(); len(got) != 1 || string(got[0]) != "overtaken" {
			t.Fatalf("delivered %q", got)
		}
		// A remembered confirmation expires like a held message.
		n.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: src, Data: Confirmation(late)})
		time.Sleep(61 * time.Second)
		n.ch.Heartbeat()
		n.tap.inject(&channel.Message{ID: late, Source: src, Data: []byte("too late")})
		if s := tp.Stats(); len(n.messages()) != 1 || s.Early != 1 || s.HeldNow != 1 {
			t.Fatalf("delivered %d, stats %+v", len(n.messages()), s)
		}
	})
}

// MaxSenderBytes and MaxHeldBytes bound what unconfirmed messages and early confirmations
// hold: a message beyond them is refused (ErrHoldLimit), an early confirmation beyond them
// is not remembered; what is confirmed or expires frees the budget.
func TestTwoPhaseCommitBoundsHeldBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		const perSender, total = 10_000, 25_000
		tp := newTwoPhase(t, TwoPhaseCommitConfig{MaxSenderBytes: perSender, MaxHeldBytes: total, AcceptNonMembers: true})
		n := newNode(t, nw, tp)
		payload := bytes.Repeat([]byte{'p'}, 2000)
		held := func() (int64, int) {
			tp.mu.Lock()
			defer tp.mu.Unlock()
			return tp.cost, len(tp.held) + len(tp.early)
		}
		src := strangerMember(1)
		var first []byte
		refused := 0
		for i := range 20 {
			id := channel.NewMessageID()
			if i == 0 {
				first = id
			}
			err := n.tap.inject(&channel.Message{ID: id, Source: src, Data: bytes.Clone(payload)})
			if errors.Is(err, ErrHoldLimit) {
				refused++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if s := tp.Stats(); s.HeldNow != 4 || refused != 16 || s.OverLimit != 16 {
			t.Fatalf("one sender: %d refused, stats %+v; want 4 held (2256 bytes each, MaxSenderBytes %d)", refused, s, perSender)
		}
		// Early confirmations count too.
		for range 100 {
			n.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: src, Data: Confirmation(channel.NewMessageID())})
		}
		if c, _ := held(); c > perSender {
			t.Fatalf("one sender holds %d bytes with early confirmations, MaxSenderBytes %d", c, perSender)
		}
		// Many senders: the total.
		for i := range 20 {
			n.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: strangerMember(100 + i), Data: bytes.Clone(payload)})
		}
		if c, _ := held(); c > total {
			t.Fatalf("all senders hold %d bytes, MaxHeldBytes %d", c, total)
		}
		// A confirmation frees its message's share.
		before, _ := held()
		n.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: src, Data: Confirmation(first)})
		if after, _ := held(); len(n.messages()) != 1 || after != before-int64(len(payload))-twoPhaseEntryCost {
			t.Fatalf("after a confirmation: %d delivered, %d bytes counted (%d before)", len(n.messages()), after, before)
		}
		time.Sleep(61 * time.Second)
		n.ch.Heartbeat()
		if c, k := held(); c != 0 || k != 0 || len(tp.senders) != 0 {
			t.Fatalf("after expiry %d bytes counted for %d entries, %d senders", c, k, len(tp.senders))
		}
	})
}

// A sender that is not a member gets neither its message nor its confirmation held
// (ErrNotMember); a member's message is held and confirmed as usual.
func TestTwoPhaseCommitRefusesNonMembers(t *testing.T) {
	nw := channeltest.NewNetwork()
	tp := newTwoPhase(t, TwoPhaseCommitConfig{})
	a, b := newCheckingNode(t, nw, tp), newNode(t, nw, newTwoPhase(t, TwoPhaseCommitConfig{}))
	startNodes(t, a, b)
	stranger := strangerMember(1)
	id := channel.NewMessageID()
	if err := a.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: stranger, Data: Confirmation(id)}); !errors.Is(err, channel.ErrNotMember) {
		t.Fatalf("a stranger's confirmation: %v, want ErrNotMember", err)
	}
	if err := a.tap.inject(&channel.Message{ID: id, Source: stranger, Data: []byte("x")}); !errors.Is(err, channel.ErrNotMember) {
		t.Fatalf("a stranger's message: %v, want ErrNotMember", err)
	}
	if s := tp.Stats(); s.HeldNow != 0 || s.NonMember != 2 || len(tp.early) != 0 {
		t.Fatalf("stats %+v", s)
	}
	b.send(t, a, []byte("from a member"), channel.OptUseAck|channel.OptSyncAck)
	if got := a.payloads(); len(got) != 1 || string(got[0]) != "from a member" {
		t.Fatalf("delivered %q", got)
	}
}

// A channel that delivers non-members' messages (channel.Config.AcceptNonMembers) has
// their two-phase messages held and delivered on confirmation too: the interceptor
// follows the channel's check (InterceptorBase.SendersChecked).
func TestTwoPhaseCommitFollowsAnOpenChannel(t *testing.T) {
	nw := channeltest.NewNetwork()
	tp := newTwoPhase(t, TwoPhaseCommitConfig{})
	a := newNode(t, nw, tp)
	startNodes(t, a)
	stranger := strangerMember(1)
	id := channel.NewMessageID()
	if err := a.tap.inject(&channel.Message{ID: id, Source: stranger, Data: []byte("x")}); err != nil {
		t.Fatalf("a non-member's message on an open channel: %v", err)
	}
	if err := a.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: stranger, Data: Confirmation(id)}); err != nil {
		t.Fatalf("its confirmation: %v", err)
	}
	if got := a.payloads(); len(got) != 1 || string(got[0]) != "x" {
		t.Fatalf("delivered %q, want the confirmed message", got)
	}
	if s := tp.Stats(); s.NonMember != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A stranger's unconfirmed messages are refused, not held. The channel's check that drops
// a non-member's message (and makes transport/nio close the connection that carried it,
// so that a stranger gets one message per connection) runs only on delivery, after the
// confirmation: TwoPhaseCommit used to hold every unconfirmed message for Expire (60 s),
// from any source, so that a stranger that never confirms streamed frames of up to
// MaxFrameSize (16 MiB) on one connection and the node held all of them for a minute.
// (Found by review.)
func TestTwoPhaseCommitRefusesStrangerStream(t *testing.T) {
	nw := channeltest.NewNetwork()
	tp := newTwoPhase(t, TwoPhaseCommitConfig{})
	tap := &tap{}
	node := nw.NewNode()
	ch, err := channel.New(channel.Config{
		Transport: node.Transport(), Membership: node.Membership(),
		Interceptors: []channel.Interceptor{tp, tap}, HeartbeatInterval: -1,
		// AcceptNonMembers false: the channel refuses non-members' messages.
	})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)

	stranger := strangerMember(1)
	payload := bytes.Repeat([]byte{'s'}, 64<<10)
	const n = 256 // 16 MiB
	refused := 0
	for range n {
		err := tap.inject(&channel.Message{Options: channel.OptUseAck | channel.OptSyncAck,
			ID: channel.NewMessageID(), Source: stranger, Data: bytes.Clone(payload)})
		if err != nil {
			refused++
		}
	}
	if s := tp.Stats(); s.HeldNow > 0 {
		t.Fatalf("TwoPhaseCommit holds %d messages (%d bytes) of a sender that is not a member, %d of %d refused (the transport keeps the stranger's connection open): it must refuse them",
			s.HeldNow, s.HeldBytes, refused, n)
	}
}
