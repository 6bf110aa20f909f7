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
// named only the source. A member listed with the sender's id but a 16-byte IPv4 host
// (net.IPv4) by a membership service that lists hosts as given gets a hint of its own
// (membership/static converts such hosts: TestIPv4HostInEitherFormIsOneMember).
func TestNonMemberWarningNamesListedID(t *testing.T) {
	ctx := context.Background()
	peer, err := channel.New(channel.Config{Transport: loopbackTransport(t, nil), Membership: static.New(),
		UniqueID: channel.UniqueID{2}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer peer.Stop(ctx, channel.SvcAll)

	for _, tc := range []struct {
		name, hint string
		listed     channel.Member
		asGiven    bool // listed by a service that keeps hosts as given, not static.New
	}{
		{"another id", "another unique id", channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: peer.LocalMember().Port,
			SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{9}}, false},
		// A 16-byte IPv4 host (net.IPv4) is another member than the 4-byte one the peer's
		// messages carry.
		{"16-byte host", "16-byte host", channel.Member{Host: net.IPv4(127, 0, 0, 1), Port: peer.LocalMember().Port,
			SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{2}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ms channel.MembershipService = static.New(tc.listed)
			if tc.asGiven {
				ms = asGiven{tc.listed}
			}
			checkNonMemberWarning(t, peer, ms, tc.listed, tc.hint)
		})
	}
}

// asGiven is a membership service that lists one member with its host as given.
type asGiven struct{ m channel.Member }

func (asGiven) Start(context.Context, channel.Service, channel.Member, channel.MembershipListener) error {
	return nil
}
func (asGiven) Stop(context.Context, channel.Service) error { return nil }
func (a asGiven) Members() []channel.Member                 { return []channel.Member{a.m} }
func (a asGiven) Member(k channel.MemberKey) (channel.Member, bool) {
	return a.m, k == a.m.Key()
}
func (asGiven) Heartbeat() {}

func checkNonMemberWarning(t *testing.T, peer *channel.Channel, ms channel.MembershipService, listed channel.Member, hint string) {
	ctx := context.Background()
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ch, err := channel.New(channel.Config{Transport: loopbackTransport(t, log), Membership: ms, Logger: log,
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
		!strings.Contains(out, hint) {
		t.Fatalf("the non-member warning does not name the member listed at the sender's address (%s) with %q:\n%s",
			listed, hint, out)
	}
}

// loopbackTransport is an nio transport on 127.0.0.1, port chosen by the kernel.
func loopbackTransport(t *testing.T, log *slog.Logger) *nio.Transport {
	cfg := nio.DefaultConfig()
	cfg.Port, cfg.Logger = 0, log
	tr, err := nio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
