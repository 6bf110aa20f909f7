package nio

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// TestAutobindMovesPastATakenPort: docs/operations.md says a node that finds its port
// taken moves on to the next ones with autobind, and fails instead of moving with
// AutoBind 1 (Config.AutoBind: "Applies to UDPPort as well"). With the receiver's TCP
// port and its UDP port each held by another socket, AutoBind 1 fails Start with an
// error wrapping EADDRINUSE and binds nothing; AutoBind 10 binds a port above each held
// one, within the ten tried.
func TestAutobindMovesPastATakenPort(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		tcpPort, udpPort := ln.Addr().(*net.TCPAddr).Port, pc.LocalAddr().(*net.UDPAddr).Port
		cfg.Port, cfg.UDP, cfg.UDPPort = tcpPort, true, udpPort
		const tries = 10

		cfg.AutoBind = 1
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = tr.Start(context.Background(), channel.SvcReceiver, func(*channel.Message) error { return nil })
		if !errors.Is(err, syscall.EADDRINUSE) {
			_ = tr.Stop(context.Background(), channel.SvcTransport)
			t.Fatalf("Start with AutoBind 1 on a taken port: %v, want an error wrapping EADDRINUSE", err)
		}
		if la := tr.LocalAddress(); la.Port != 0 || la.UDPPort != -1 {
			t.Errorf("a failed Start reports the local address %+v", la)
		}

		cfg.AutoBind = tries
		n := startNode(t, cfg, nil)
		la := n.t.LocalAddress()
		if int(la.Port) <= tcpPort || int(la.Port) >= tcpPort+tries {
			t.Errorf("TCP port %d with %d taken and AutoBind %d, want one of %d…%d", la.Port, tcpPort, tries, tcpPort+1, tcpPort+tries-1)
		}
		if int(la.UDPPort) <= udpPort || int(la.UDPPort) >= udpPort+tries {
			t.Errorf("UDP port %d with %d taken and AutoBind %d, want one of %d…%d", la.UDPPort, udpPort, tries, udpPort+1, udpPort+tries-1)
		}
	})
}
