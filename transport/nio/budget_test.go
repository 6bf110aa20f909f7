package nio

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// A stranger that opens a few connections and writes nothing but an 11-byte frame header
// on each, announcing a frame of MaxFrameSize, made the receiver reserve (and allocate)
// the whole announced size per connection: MaxPendingBytes was spent for 11 bytes a
// connection, and every large message of the members was refused until FrameTimeout
// (30 s by default) closed the stranger's connections, which it simply reopens. Now a
// connection that has not carried a frame (a member's, where the channel checks senders)
// reserves its large frame as the bytes arrive, and a member's message gets through. (An
// 11-byte frame header alone, whose ChannelData header does not name the sender yet, now
// reserves nothing: its bytes wait in the connection's buffer.)
func TestHeaderOnlyConnectionsDoNotSpendTheBudget(t *testing.T) {
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

		// The stranger: budget/maxFrame connections, a frame's headers each (naming a
		// sender, a member since the receiver checks none), whose announced frames add up
		// to the budget.
		hdr := frameHead(maxFrame, testSource())
		sent := 0
		for range budget / maxFrame {
			c := dialRaw(t, b)
			if _, err := c.Write(hdr); err != nil {
				t.Fatal(err)
			}
			sent += len(hdr)
		}
		// Each header, on a connection that carried no frame yet, reserves minAssembly
		// (before the fix: the whole announced frame, which spent the budget).
		testutil.EventuallyTrue(t, waitTimeout, "headers read", func() bool {
			return b.t.Stats().PendingBytes >= budget/maxFrame*minAssembly
		})
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
