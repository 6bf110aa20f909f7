package nio

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// A connection that has not carried a member's frame reserves minAssembly (64 KiB) of
// MaxPendingBytes for a large frame's headers alone. Each is small, but they added up:
// MaxPendingBytes / 64 KiB such connections (4 096, MaxConnections, at the defaults) spent
// the whole budget, and every large message of the members was refused until FrameTimeout
// closed them (the stranger reopens them). Strangers' large frames now share
// MaxUntrustedPendingBytes (a quarter of the budget by default): the connections beyond
// it are refused, and a member's message of MaxFrameSize, on a new connection of its own,
// gets through.
func TestStrangersShareOfTheBudgetIsBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		const (
			maxFrame = 1 << 20
			budget   = 4 << 20
			conns    = budget / minAssembly // enough to spend the whole budget
		)
		cfg.MaxFrameSize = maxFrame
		cfg.MaxPendingBytes = budget
		b := startGuarded(t, cfg)
		tr := b.t
		if got := tr.cfg.MaxUntrustedPendingBytes; got != budget/DefaultUntrustedShare {
			t.Fatalf("MaxUntrustedPendingBytes %d, want a quarter of MaxPendingBytes, %d", got, budget/DefaultUntrustedShare)
		}

		hdr := frameHead(maxFrame, testSource()) // a sender the check refuses
		b.strangers(t, conns, hdr)
		// Every header was read: it holds minAssembly or its connection was refused.
		testutil.EventuallyTrue(t, waitTimeout, "headers read", func() bool {
			st := tr.Stats()
			return st.PendingBytes/minAssembly+int64(st.FramesRefused) >= conns
		})
		st := tr.Stats()
		t.Logf("%d stranger connections: %d bytes of the budget held (%d by strangers), %d refused",
			conns, st.PendingBytes, st.UntrustedBytes, st.FramesRefused)
		if st.PendingBytes > budget/DefaultUntrustedShare || st.UntrustedBytes != st.PendingBytes {
			t.Errorf("strangers hold %d bytes of the budget (%d counted as theirs), want at most MaxUntrustedPendingBytes, %d",
				st.PendingBytes, st.UntrustedBytes, budget/DefaultUntrustedShare)
		}

		// A member's message of nearly MaxFrameSize, on a new connection.
		if m := b.sendFromMember(t, maxFrame-1024); len(m.Data) != maxFrame-1024 {
			t.Fatalf("delivered %d bytes, want %d", len(m.Data), maxFrame-1024)
		}
		if st := tr.Stats(); st.UntrustedBytes > budget/DefaultUntrustedShare {
			t.Fatalf("strangers' share %d after the member's message, over %d", st.UntrustedBytes, budget/DefaultUntrustedShare)
		}
	})
}

// MaxUntrustedPendingBytes is a part of MaxPendingBytes: more, or negative, is refused.
func TestMaxUntrustedPendingBytesValidated(t *testing.T) {
	for _, v := range []int{-1, DefaultMaxPendingBytes + 1} {
		cfg := DefaultConfig()
		cfg.MaxUntrustedPendingBytes = v
		if _, err := New(cfg); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("MaxUntrustedPendingBytes %d: %v, want ErrInvalidConfig", v, err)
		}
	}
	cfg := DefaultConfig()
	cfg.MaxUntrustedPendingBytes = DefaultMaxPendingBytes
	if _, err := New(cfg); err != nil {
		t.Errorf("MaxUntrustedPendingBytes = MaxPendingBytes: %v", err)
	}
}

// The same with partial small frames (under 32 KiB, read into the connection's buffer
// rather than assembled): each stranger's connection held its bytes in MaxPendingBytes,
// and enough of them spent it all. They count in strangers' share too now.
func TestStrangersPartialSmallFramesBounded(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		const (
			maxFrame = 1 << 20
			budget   = 4 << 20
			part     = 20 << 10 // of a frame of largeFrame-1 bytes
			conns    = budget/part + 8
		)
		cfg.MaxFrameSize = maxFrame
		cfg.MaxPendingBytes = budget
		b := startGuarded(t, cfg)
		tr := b.t

		start := append(wire.AppendFrameHeader(nil, largeFrame-1-wire.FrameOverhead), make([]byte, part-wire.FrameHeaderLen)...)
		b.strangers(t, conns, start)
		testutil.EventuallyTrue(t, waitTimeout, "partial frames read", func() bool {
			st := tr.Stats()
			return st.PendingBytes/part+int64(st.FramesRefused) >= conns
		})
		st := tr.Stats()
		t.Logf("%d stranger connections: %d bytes of the budget held (%d in strangers' share), %d refused",
			conns, st.PendingBytes, st.UntrustedBytes, st.FramesRefused)
		if share := int64(budget / DefaultUntrustedShare); st.PendingBytes > share+part {
			t.Errorf("strangers' partial small frames hold %d bytes of the budget, want at most their share, %d, and one frame", st.PendingBytes, share)
		}

		if m := b.sendFromMember(t, maxFrame-1024); len(m.Data) != maxFrame-1024 {
			t.Fatalf("delivered %d bytes, want %d", len(m.Data), maxFrame-1024)
		}
	})
}
