package channel_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// One stranger, from one address, sends messages that each name another invented source
// (a different port). The transport's own warnings are rate-limited per remote IP and stay
// a few lines, but the channel's "dropping a message from a non-member" warning is
// rate-limited per *claimed* source address, which the stranger picks: every message
// writes a line, up to ratelog's 1 024 keys a minute (and again every minute).
// docs/security.md: a process that reaches the receiver port must not be able to flood
// the log; the attack suite fails a run whose log passes 64 KiB.
func TestReviewNonMemberWarningsFromOnePeerBounded(t *testing.T) {
	ctx := context.Background()
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cfg := nio.DefaultConfig()
	cfg.Port = 0
	cfg.Logger = log
	tr, err := nio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	member := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: 7, SecurePort: -1, UDPPort: -1}
	_, _ = rand.Read(member.UniqueID[:])
	ch, err := channel.New(channel.Config{Transport: tr, Membership: static.New(member), Logger: log, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop(ctx, channel.SvcAll)
	addr := ch.LocalMember().Addr()

	const n = 1500
	for i := range n {
		src := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: int32(10000 + i), SecurePort: -1, UDPPort: -1}
		_, _ = rand.Read(src.UniqueID[:])
		sb, _ := src.MarshalBinary()
		f := wire.AppendChannelDataFrame(nil, uint32(channel.OptByteMessage), time.Now().UnixMilli(), channel.NewMessageID(), sb, []byte("x"))
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(f); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	testutil.EventuallyTrue(t, 10*time.Second, "every message refused", func() bool { return ch.Stats().NonMemberDropped == n })
	const limit = 64 << 10
	if got := logBuf.Len(); got > limit {
		t.Fatalf("%d non-member messages from one peer (127.0.0.1) wrote %d bytes of warnings (limit %d)", n, got, limit)
	}
}
