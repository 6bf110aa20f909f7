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
		tp := newTwoPhase(t, TwoPhaseCommitConfig{})
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
	ics, err := Build("twophasecommit(expire=1000;deepclone=false)", nil)
	if err != nil || ics[0].(*TwoPhaseCommit).Config().Expire != time.Second {
		t.Fatal(err)
	}
}

// A confirmation that overtakes its message is remembered: the message is delivered as
// soon as it arrives (Java would lose it).
func TestTwoPhaseCommitEarlyConfirmation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		tp := newTwoPhase(t, TwoPhaseCommitConfig{})
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
