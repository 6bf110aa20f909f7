package nio

import (
	"context"
	"net"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// Members' partial small frames (under largeFrame, waiting in the connection's buffer for
// the rest) were counted in Stats.PendingBytes but never refused: only a large frame's
// reservation was checked against MaxPendingBytes, so member connections each holding a
// part of a small frame took the receiver past its budget (40 connections of 20 KiB held
// 800 KiB of a 256 KiB budget), bounded only by MaxConnections times the connection's
// buffer. Now a connection whose buffered bytes grow past the budget is refused
// (Stats.FramesRefused), as a large frame that does not fit is, and the budget holds.
func TestMembersPartialSmallFramesWithinTheBudget(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		const (
			maxFrame = 64 << 10
			budget   = 256 << 10
			part     = 20 << 10 // of a frame of largeFrame-1 bytes
			conns    = 40       // 800 KiB of parts
		)
		cfg.MaxFrameSize = maxFrame
		cfg.MaxPendingBytes = budget
		rec := newRecorder(1)
		b := startNode(t, cfg, rec.rx) // no sender check: every sender is a member
		start := frame(b.wire, 0, make([]byte, largeFrame-1-(len(frame(b.wire, 0, nil)))))[:part]
		cs := make([]net.Conn, conns)
		for i := range cs {
			cs[i] = dialRaw(t, b)
			if _, err := cs[i].Write(start); err != nil {
				t.Fatal(err)
			}
		}
		testutil.EventuallyTrue(t, waitTimeout, "the parts read", func() bool {
			st := b.t.Stats()
			return st.PendingBytes/part+int64(st.FramesRefused) >= conns
		})
		st := b.t.Stats()
		t.Logf("%d member connections with %d bytes of a frame each: %d bytes pending, %d refused", conns, part, st.PendingBytes, st.FramesRefused)
		if st.PendingBytes > budget || st.FramesRefused == 0 {
			t.Fatalf("members' partial small frames hold %d bytes, over MaxPendingBytes %d (%d refused)", st.PendingBytes, budget, st.FramesRefused)
		}
		if st.UntrustedBytes != 0 {
			t.Fatalf("members' partial frames counted in strangers' share: %d", st.UntrustedBytes)
		}
		for _, c := range cs {
			_ = c.Close()
		}
		testutil.EventuallyTrue(t, waitTimeout, "the budget returned", func() bool { return b.t.Stats().PendingBytes == 0 })

		// The budget works again: a member's message of nearly MaxFrameSize gets through.
		a := startNode(t, testConfig(), nil)
		if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, make([]byte, maxFrame-1024))); err != nil {
			t.Fatal(err)
		}
		if m := rec.next(t); len(m.Data) != maxFrame-1024 {
			t.Fatalf("delivered %d bytes, want %d", len(m.Data), maxFrame-1024)
		}
	})
}
