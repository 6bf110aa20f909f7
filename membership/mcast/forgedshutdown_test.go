package mcast_test

import (
	"net"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

// Not defended (docs/security.md): anyone who can send to the group can make the nodes
// drop a live member, as with Tribes, by sending that member's heartbeat with the
// shutdown command; the member is listed again at its next heartbeat, and a stranger who
// repeats the packet faster than the member's Frequency keeps it out of the view most of
// the time (tribesdemo nodes, a forged shutdown every 50 ms for 10 s: the victim dropped
// and added again at each of its heartbeats, 21 times). The packet names the member
// by its address and unique id, which its own heartbeats tell everyone on the group.
// This test pins that behaviour, so that a defence changes it knowingly.
func TestLoopbackForgedShutdownDropsALiveMember(t *testing.T) {
	cfg := localConfig(t)
	cfg.DropTime = time.Minute // B can only be dropped by a shutdown packet
	ea := newEvents()
	startService(t, cfg, member(4006, 6), ea)
	b := member(4007, 7)
	startService(t, cfg, b, newEvents())
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A sees B", func() bool { _, ok := ea.addedAt(4007); return ok })
	first, _ := ea.addedAt(4007)

	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	forged := b
	forged.Command = wire.ShutdownCommand
	group := &net.UDPAddr{IP: net.ParseIP(cfg.Address), Port: cfg.Port}
	if _, err := stranger.WriteToUDP(wire.AppendMember(nil, &forged), group); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A drops B on the stranger's packet", func() bool {
		_, ok := ea.goneMember(4007)
		return ok
	})
	if gone, _ := ea.goneMember(4007); !gone.IsShutdown() {
		t.Fatalf("B gone with command %q, want the shutdown command", gone.Command)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A lists B again at its next heartbeat", func() bool {
		again, _ := ea.addedAt(4007)
		return again.After(first)
	})
}
