package nio

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// A stranger that opens a few connections and writes nothing but an 11-byte frame header
// on each, announcing a frame of MaxFrameSize, makes the receiver reserve (and allocate)
// the whole announced size per connection: MaxPendingBytes is spent for 11 bytes a
// connection, and every large message of the members is refused until FrameTimeout
// (30 s by default) closes the stranger's connections, which it simply reopens.
// docs/security.md: a process that can reach the receiver port must not be able to
// exhaust its memory or stop the members' traffic; "lying lengths ... checked against the
// cap when its header arrives, before any allocation".
func TestReviewHeaderOnlyConnectionsSpendTheBudget(t *testing.T) {
	forEachEngine(t, func(t *testing.T, ecfg Config) {
		const (
			maxFrame = 1 << 20
			budget   = 4 << 20
		)
		cfg := ecfg
		cfg.MaxFrameSize = maxFrame
		cfg.MaxPendingBytes = budget
		rec := newRecorder(4)
		b := startNode(t, cfg, rec.rx)

		// The stranger: budget/maxFrame connections, 11 bytes each, whose announced
		// frames add up to the budget.
		hdr := wire.AppendFrameHeader(nil, maxFrame-wire.FrameOverhead)
		sent := 0
		for range budget / maxFrame {
			c := dialRaw(t, b)
			if _, err := c.Write(hdr); err != nil {
				t.Fatal(err)
			}
			sent += len(hdr)
		}
		testutil.EventuallyTrue(t, waitTimeout, "headers read", func() bool { return b.t.Stats().PendingBytes >= budget })
		t.Logf("%d bytes from a stranger hold %d bytes of the receiver's budget", sent, b.t.Stats().PendingBytes)

		// A member's 256 KiB message.
		a := startNode(t, testConfig(), nil)
		err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, make([]byte, 256<<10)))
		if err != nil {
			t.Fatalf("a member's 256 KiB message is refused while a stranger holds the budget with %d bytes "+
				"(FramesRefused %d): %v", sent, b.t.Stats().FramesRefused, err)
		}
		rec.next(t)
	})
}
