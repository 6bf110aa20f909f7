package channel_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/transport/nio"
)

// TestNonMemberWarningNamesListedID: the static list names a peer's address with another
// unique id than the peer's own (random by default: a program that does not set its
// UniqueID, such as docs/cluster-apps.md's complete node before it read ID). Every message of
// the peer is dropped as a non-member's; the warning now says that a member is listed at
// that address with another id, and which, so that the reader knows what to change. It
// named only the source.
func TestNonMemberWarningNamesListedID(t *testing.T) {
	ctx := context.Background()
	newTransport := func(log *slog.Logger) *nio.Transport {
		cfg := nio.DefaultConfig()
		cfg.Port, cfg.Logger = 0, log
		tr, err := nio.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	peer, err := channel.New(channel.Config{Transport: newTransport(nil), Membership: static.New(), UniqueID: channel.UniqueID{2}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer peer.Stop(ctx, channel.SvcAll)

	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	listed := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: peer.LocalMember().Port, SecurePort: -1, UDPPort: -1,
		UniqueID: channel.UniqueID{9}}
	ch, err := channel.New(channel.Config{Transport: newTransport(log), Membership: static.New(listed), Logger: log,
		HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop(ctx, channel.SvcAll)

	err = peer.Send(ctx, []channel.Member{ch.LocalMember()}, []byte("hi"), channel.OptUseAck|channel.OptSyncAck)
	if !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("send from the peer listed with another id: %v, want ErrAckFailed", err)
	}
	out := logBuf.String()
	if !strings.Contains(out, "non-member") || !strings.Contains(out, listed.String()) ||
		!strings.Contains(out, "another unique id") {
		t.Fatalf("the non-member warning does not name the member listed at the sender's address (%s) with another id:\n%s",
			listed, out)
	}
}
