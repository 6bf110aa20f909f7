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
	"github.com/gotribes/tribes/channel/channeltest"
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
// (a different port). The channel's "dropping a message from a non-member" warning is
// rate-limited per claimed source address, which the stranger picks, so every message
// wrote a line; the rate limiter's budget per kind of line across peers (ratelog
// MaxPerKind) keeps the log under the 64 KiB the attack suite allows.
func TestNonMemberWarningsFromOnePeerBounded(t *testing.T) {
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
	// 1500 connections' frames under -race: seconds on a loaded machine (11.5 s for the
	// whole test at load 15), so the wait is not WaitLimit's.
	testutil.EventuallyTrue(t, time.Minute, "every message refused", func() bool { return ch.Stats().NonMemberDropped == n })
	const limit = 64 << 10
	if got := logBuf.Len(); got > limit {
		t.Fatalf("%d non-member messages from one peer (127.0.0.1) wrote %d bytes of warnings (limit %d)", n, got, limit)
	}
}

// checkingTransport records the sender check the channel gives its transport.
type checkingTransport struct {
	channel.Transport
	check func(*channel.Member) bool
}

func (t *checkingTransport) SetSenderCheck(f func(*channel.Member) bool) { t.check = f }

// A channel that checks senders gives a channel.SenderChecker transport its check, which
// tells members (and the local member) from strangers; one with AcceptNonMembers or
// without a membership gives none, so that its transport treats every sender as before.
func TestSenderCheckGivenToTheTransport(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := nw.NewNode(), nw.NewNode()
	stranger := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: 9, SecurePort: -1, UDPPort: -1}
	_, _ = rand.Read(stranger.UniqueID[:])

	tr := &checkingTransport{Transport: a.Transport()}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: a.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if tr.check == nil {
		t.Fatal("a channel that checks senders gave its transport no sender check")
	}
	ctx := context.Background()
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop(ctx, channel.SvcAll)
	bch, err := channel.New(channel.Config{Transport: b.Transport(), Membership: b.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := bch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer bch.Stop(ctx, channel.SvcAll)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "b a member", func() bool { return len(ch.Members()) == 1 })
	self, bm := ch.LocalMember(), bch.LocalMember()
	if !tr.check(&bm) || !tr.check(&self) || tr.check(&stranger) {
		t.Fatalf("check: member %v, local %v, stranger %v; want true, true, false",
			tr.check(&bm), tr.check(&self), tr.check(&stranger))
	}

	for _, cfg := range []channel.Config{
		{Transport: &checkingTransport{Transport: nw.NewNode().Transport()}, Membership: static.New(stranger), AcceptNonMembers: true},
		{Transport: &checkingTransport{Transport: nw.NewNode().Transport()}},
	} {
		if _, err := channel.New(cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Transport.(*checkingTransport).check != nil {
			t.Fatalf("AcceptNonMembers %v, membership %v: the transport got a sender check", cfg.AcceptNonMembers, cfg.Membership != nil)
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
