package interceptors

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// TestDomainFilterWarningBounded: DomainFilter sits below the channel's member check and
// drops a foreign domain's message itself (the channel never refuses it, so the nio
// receiver keeps the stranger's connection: docs/security.md), logging one warning per
// LogInterval (100) drops. The domain is the stranger's to write: up to 64 KiB in each
// frame's source member. The warning names its length and at most its first 32 bytes,
// rate-limited (internal/ratelog), as docs/security.md promises for what a peer can
// repeat (the suite allows a target 64 KiB of log per attack). Before, every 100 frames
// made one warning with the domain in full, quoted to up to four times its size: 4.8 MiB
// for these 2 000 frames.
func TestDomainFilterWarningBounded(t *testing.T) {
	var log syncLog
	f, err := NewDomainFilter(DomainFilterConfig{Domain: []byte("ours"),
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	nw := channeltest.NewNetwork()
	a := newCheckingNode(t, nw, f)
	startNodes(t, a)
	const frames = 2000
	src := strangerMember(1)
	src.Domain = make([]byte, 60<<10) // the source member stays within wire.MaxMemberSize
	for range frames {
		if err := a.tap.inject(&channel.Message{ID: channel.NewMessageID(), Source: src, Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if refused, _ := f.Refused(); refused != frames {
		t.Fatalf("refused %d, want %d", refused, frames)
	}
	if n := log.Len(); n > 64<<10 {
		t.Errorf("%d frames of a foreign domain from a stranger wrote %d KiB of warnings (%d lines), limit 64 KiB",
			frames, n>>10, bytes.Count(log.b.Bytes(), []byte("\n")))
	}
}
