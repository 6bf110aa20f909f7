package nio

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestStartFailingOnItsUDPPortLeavesNothingRunning: a Start that fails half way, its TCP
// listener bound and its goroutines running when binding the UDP port fails (the port
// held by another socket, or, with autobind, Start's ctx ended meanwhile, so that it
// tries no other port), undoes what it started itself: nothing of the receiver runs
// after the failed channel Start, and, once the UDP port is free, the next Start listens
// on the same TCP port, not failing with "address in use". The channel's undo stops the
// receiver level again too (TestFailedStartStopsTheTransportLevelThatFailed in channel),
// which for nio is a no-op.
func TestStartFailingOnItsUDPPortLeavesNothingRunning(t *testing.T) {
	for _, tc := range []struct {
		name     string
		engine   Engine
		ctxEnded bool // ctx ends once the TCP listener is bound (EngineGoroutine's wrapListener)
	}{
		{"gnet", EngineGnet, false},
		{"goroutine", EngineGoroutine, false},
		{"goroutine ctx ended", EngineGoroutine, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.engine == EngineGnet && !gnetSupported {
				t.Skip("gnet does not run on this system")
			}
			ignore := goleak.IgnoreCurrent()
			// The ports are bound again after being free a while (the TCP port by both
			// Starts and the check between them, the UDP port by the second Start): they
			// come from below the kernel's ephemeral range, reserved against other test
			// processes, so that no server or connection of a test running alongside
			// takes them meanwhile, as it could a port the kernel picked for port 0.
			tcpPort := testutil.FreePorts(t, 1)[0]
			pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePortsUDP(t, 1)[0])))
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			cfg := testConfig()
			cfg.Engine, cfg.Address = tc.engine, "127.0.0.1"
			cfg.Port, cfg.AutoBind = tcpPort, 1
			cfg.UDP, cfg.UDPPort = true, pc.LocalAddr().(*net.UDPAddr).Port
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.ctxEnded {
				cfg.AutoBind = 10 // the UDP port's neighbours are not tried once ctx ended
				wrapListener = func(ln net.Listener) net.Listener { cancel(); return ln }
				defer func() { wrapListener = nil }()
			}
			tr, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := channel.New(channel.Config{Transport: tr, HeartbeatInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			err = ch.Start(ctx, channel.SvcTransport)
			if !errors.Is(err, syscall.EADDRINUSE) {
				_ = ch.Stop(context.Background(), channel.SvcAll)
				t.Fatalf("Start with the UDP port taken: %v, want an error wrapping EADDRINUSE", err)
			}
			if s := ch.Started(); s != 0 {
				t.Errorf("Started() = %v after the failed Start, want none", s)
			}
			if la := tr.LocalAddress(); la.Port != 0 || la.UDPPort != -1 {
				t.Errorf("the failed Start reports the local address %+v", la)
			}
			// Nothing of the receiver runs: its listener's port is free again, and no
			// goroutine of it is left.
			again, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPort)))
			if err != nil {
				t.Fatalf("the failed Start's TCP port is still taken: %v", err)
			}
			again.Close()
			goleak.VerifyNone(t, append(testutil.IgnoreGnetPool(), ignore)...)

			wrapListener = nil
			pc.Close()
			if err := ch.Start(context.Background(), channel.SvcTransport); err != nil {
				t.Fatalf("Start once the UDP port is free: %v", err)
			}
			if la := tr.LocalAddress(); int(la.Port) != tcpPort || la.UDPPort <= 0 {
				t.Errorf("the next Start listens on %+v, want TCP port %d and a UDP port", la, tcpPort)
			}
			if err := ch.Stop(context.Background(), channel.SvcAll); err != nil {
				t.Fatal(err)
			}
		})
	}
}
