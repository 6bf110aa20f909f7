package nio

import (
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// A stranger's USE_ACK frames (without SYNC) sent in one write get one ACK, that of the
// frame the channel refuses (acknowledged before its delivery, as every such frame is):
// the frames after it are dropped with the connection, unacknowledged. A run of ACKs
// covered every such frame decoded before the first delivery (up to 32 on the goroutine
// engine, all of a read on gnet), so the stranger was told that frames were received
// which the receiver then dropped.
func TestStrangerGetsNoAckForFramesDroppedAfterTheRefusal(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		var delivered atomic.Int64
		tr, acks := ackedStream(t, cfg, false, &delivered, func(stranger, _ []byte) []byte {
			var stream []byte
			for range 8 {
				stream = append(stream, frame(stranger, channel.OptUseAck, []byte("x"))...)
			}
			return stream
		})
		if acks != 1 {
			t.Fatalf("the stranger got %d ACK frames, want the one ACK of its refused frame", acks)
		}
		if st := tr.Stats(); st.ConnsNonMember != 1 || st.MessagesDelivered != 1 {
			t.Fatalf("ConnsNonMember %d, MessagesDelivered %d; want 1, 1", st.ConnsNonMember, st.MessagesDelivered)
		}
	})
}

// A stranger's USE_ACK frame followed, in the same write, by frames naming a member gets
// its one ACK only: the member's frames, decoded after it on a connection that became
// trusted with the first of them, are dropped with the connection once the channel
// refuses the stranger's, unacknowledged. On the goroutine engine the run of ACKs that
// the stranger's frame began took in the frames after it (only an untrusted frame ended
// a run), so all 8 were acknowledged and 7 of them dropped.
func TestStrangerFrameAckedAloneBeforeMembersFrames(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		var delivered atomic.Int64
		tr, acks := ackedStream(t, cfg, true, &delivered, func(stranger, member []byte) []byte {
			stream := frame(stranger, channel.OptUseAck, []byte("s"))
			for range 7 {
				stream = append(stream, frame(member, channel.OptUseAck, []byte("m"))...)
			}
			return stream
		})
		if acks != 1 {
			t.Fatalf("got %d ACK frames, want the one ACK of the stranger's refused frame", acks)
		}
		if st := tr.Stats(); st.ConnsNonMember != 1 || st.MessagesDelivered != 1 {
			t.Fatalf("ConnsNonMember %d, MessagesDelivered %d; want 1, 1", st.ConnsNonMember, st.MessagesDelivered)
		}
	})
}

// No frame is acknowledged and then dropped. On a connection that carried a member's
// frame, USE_ACK frames without SYNC are acknowledged in a run before the delivery of the
// frames before them (up to 32 on the goroutine engine, every one of a read on gnet's
// loop); when the channel then refused one as a non-member's (a member the membership
// dropped meanwhile, or frames of another source), the frames after it were dropped with
// the connection although their sender had its ACK: 8 acknowledged, 1 delivered. Now the
// frames already acknowledged are still delivered; only the others are dropped.
func TestAcknowledgedFramesDeliveredAfterARefusal(t *testing.T) {
	forEachDelivery(t, func(t *testing.T, cfg Config) {
		var members atomic.Int64
		tr, n := ackedStream(t, cfg, true, &members, func(stranger, member []byte) []byte {
			stream := frame(member, channel.OptUseAck, []byte("m"))
			stream = append(stream, frame(stranger, channel.OptUseAck, []byte("s"))...)
			for range 6 {
				stream = append(stream, frame(member, channel.OptUseAck, []byte("m"))...)
			}
			return stream
		})
		acks := int64(n)
		if acks < 2 {
			t.Fatalf("%d ACK frames, want at least those of the member's first frame and of the refused one", acks)
		}
		testutil.EventuallyTrue(t, waitTimeout, "the connection counted", func() bool { return tr.Stats().ConnsNonMember == 1 })
		// Every ACK but the refused frame's is a member's frame delivered (an ACK the
		// receiver's close cut off may be missing).
		testutil.Eventually(t, waitTimeout, func() error {
			if n := members.Load(); n < acks-1 {
				return fmt.Errorf("%d ACKs, %d of the member's frames delivered; want at least %d delivered", acks, n, acks-1)
			}
			return nil
		})
		if st := tr.Stats(); st.ConnsNonMember != 1 {
			t.Fatalf("ConnsNonMember %d, want 1 (the connection counted once)", st.ConnsNonMember)
		}
	})
}

// ackedStream starts a transport that takes one sender identity for a member's (none
// without withMember: every sender is a stranger; no node listens at it), whose application refuses non-members'
// messages (channel.ErrNotMember) and counts members' in *delivered, writes the frames
// build makes (given the stranger's and the member's source bytes) in one write on a new
// connection, and returns the ACK frames read until the receiver closed it.
func ackedStream(t *testing.T, cfg Config, withMember bool, delivered *atomic.Int64,
	build func(stranger, member []byte) []byte) (*Transport, int) {
	t.Helper()
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	member := memberOf(tr)
	isMember := func(m *channel.Member) bool { return withMember && m.Key() == member.Key() }
	tr.SetSenderCheck(isMember)
	rx := func(m *channel.Message) error {
		if !isMember(&m.Source) {
			return channel.ErrNotMember
		}
		delivered.Add(1)
		return nil
	}
	if err := tr.Start(t.Context(), channel.SvcTransport, rx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Stop(t.Context(), channel.SvcTransport) })
	b := &node{t: tr, member: memberOf(tr)}
	strangerSrc, _ := b.member.MarshalBinary()
	memberSrc, _ := member.MarshalBinary()
	c := dialRaw(t, b)
	if _, err := c.Write(build(strangerSrc, memberSrc)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	got, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("reading until the receiver closed the connection: %v", err)
	}
	return tr, len(got) / len(wire.AckFrame)
}
