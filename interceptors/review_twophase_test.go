package interceptors

import (
	"bytes"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// TwoPhaseCommit holds every unconfirmed message for Expire (60 s), from any source and
// without a limit on count or bytes, and answers it with nil. The channel's check that
// drops a non-member's message (and makes transport/nio close the connection that
// carried it, so that a stranger gets one message per connection) runs only on delivery,
// after the confirmation: a stranger that never confirms streams frames of up to
// MaxFrameSize (16 MiB) on one connection and the node holds all of them for a minute.
func TestReviewTwoPhaseHoldsStrangersUnbounded(t *testing.T) {
	nw := channeltest.NewNetwork()
	tp := newTwoPhaseForReview(t)
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
	const n = 256 // 16 MiB; nothing stops it at 16 GiB
	refused := 0
	for range n {
		err := tap.inject(&channel.Message{Options: channel.OptUseAck | channel.OptSyncAck,
			ID: channel.NewMessageID(), Source: stranger, Data: bytes.Clone(payload)})
		if err != nil {
			refused++
		}
	}
	if s := tp.Stats(); s.HeldNow > 0 {
		t.Fatalf("TwoPhaseCommit holds %d messages (%d bytes) of a sender that is not a member, %d of %d refused (the transport keeps the stranger's connection open): nothing bounds what one sender makes it hold",
			s.HeldNow, s.HeldBytes, refused, n)
	}
}

func newTwoPhaseForReview(t *testing.T) *TwoPhaseCommit {
	t.Helper()
	tp, err := NewTwoPhaseCommit(TwoPhaseCommitConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return tp
}
