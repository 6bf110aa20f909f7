package cloud

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/dnsmasq"
)

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// TestStrangerSendersLogBounded: with the DNS provider, the channel hands every
// non-member's message to the service (senderWatcher.AcceptNonMember, before the sender
// check drops it), and a sender at a new address becomes a member until MaxMembers. Past
// the cap, each further invented sender is counted (Stats.MembersOverLimit) and logged at
// Warn rate-limited. Before, each was logged without a limit (touchLocked): a stranger
// that writes a new source address in each frame wrote a warning line into the target's
// log per frame, where docs/security.md promises that what a peer can repeat is logged
// rate-limited, with a budget of 60 lines a minute per kind across all peers (the
// channel's own non-member warning is: TestNonMemberWarningsFromOnePeerBounded holds it
// under 64 KiB for 1 500 messages).
func TestStrangerSendersLogBounded(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n")
	var log lockedBuffer
	cfg := Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1", MaxMembers: 4,
		DNS:    DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()},
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.LocalUniqueID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	local := localMember("127.0.0.1", 4000, id)
	if err := s.Start(context.Background(), channel.SvcMembership, local, &recorder{}); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	base := log.Len()
	const frames = 1500
	for i := range frames {
		var ip [4]byte
		binary.BigEndian.PutUint32(ip[:], 0x0a000000+uint32(i)) // 10.0.x.y, one per frame
		src := channel.Member{Host: ip[:], Port: 4000, SecurePort: -1, UDPPort: -1, UniqueID: [16]byte{0xee, byte(i), byte(i >> 8)}}
		senderWatcher{s}.AcceptNonMember(&channel.Message{Source: src})
	}
	if n := len(s.Members()); n > cfg.MaxMembers {
		t.Fatalf("%d members, cap %d", n, cfg.MaxMembers)
	}
	if n := s.Stats().MembersOverLimit; n != frames-uint64(cfg.MaxMembers) {
		t.Errorf("Stats.MembersOverLimit = %d, want %d", n, frames-cfg.MaxMembers)
	}
	if got := log.Len() - base; got > 64<<10 {
		t.Errorf("%d frames from invented senders wrote %d bytes of warnings (limit 64 KiB); the last line:\n%s",
			frames, got, lastLine(log.b.Bytes()))
	}
}

func lastLine(b []byte) []byte {
	b = bytes.TrimRight(b, "\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// TestStrangerSendersInfoLogBounded: below MaxMembers each invented sender becomes a
// member, and each was logged at Info ("a sender not listed became a member") without a
// limit, so that a stranger writing a new source address in each frame (the members it
// invents expiring after ExpirationTime, making room for more) wrote an Info line into
// the target's log per frame for as long as it went on. The line is rate-limited now,
// as the member-limit warning is: the first ones, then a count.
func TestStrangerSendersInfoLogBounded(t *testing.T) {
	d := dnsmasq.Start(t, "127.0.0.1 tomcat-members\n")
	var log lockedBuffer
	const frames = 1500
	cfg := Config{Provider: ProviderDNS, LookupEnv: NoEnv, LocalIP: "127.0.0.1", MaxMembers: 2 * frames,
		DNS:    DNSConfig{ServiceName: "tomcat-members", Resolver: d.Resolver()},
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.LocalUniqueID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	local := localMember("127.0.0.1", 4000, id)
	if err := s.Start(context.Background(), channel.SvcMembership, local, &recorder{}); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	base := log.Len()
	for i := range frames {
		var ip [4]byte
		binary.BigEndian.PutUint32(ip[:], 0x0a000000+uint32(i)) // 10.0.x.y, one per frame
		src := channel.Member{Host: ip[:], Port: 4000, SecurePort: -1, UDPPort: -1}
		senderWatcher{s}.AcceptNonMember(&channel.Message{Source: src})
	}
	if n := len(s.Members()); n != frames {
		t.Fatalf("%d members, want %d", n, frames)
	}
	if got := log.Len() - base; got > 64<<10 {
		t.Errorf("%d frames from invented senders wrote %d bytes of log (limit 64 KiB); the last line:\n%s",
			frames, got, lastLine(log.b.Bytes()))
	}
}
