package mcast_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

// dummyInterface creates a veth interface (and its peer) with the address addr/32 (root
// and iproute2 needed; the dummy driver is missing from some kernels) and returns its name and a function that deletes and re-creates it: the same
// name and address under a new interface index, as when a bridge, VLAN or VPN interface
// is re-created. The interface is deleted when the test ends.
func dummyInterface(t *testing.T, addr string) (string, func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "creating a veth interface needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.Missing(t, "creating a veth interface needs iproute2's ip: %v", err)
	}
	name := fmt.Sprintf("mcrv%d", os.Getpid()%100000)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	create := func() {
		ip("link", "add", name, "type", "veth", "peer", "name", name+"p")
		ip("addr", "add", addr+"/32", "dev", name)
		ip("link", "set", name+"p", "up")
		ip("link", "set", name, "multicast", "on", "up")
	}
	_ = exec.Command("ip", "link", "del", name).Run() // a leftover of a killed run
	create()
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", name).Run() })
	return name, func() {
		ip("link", "del", name)
		create()
	}
}

// TestRecoveryFindsARecreatedInterface: the interface the group is joined on is deleted
// and created again (same name and address, new index). Sending fails, and socket
// recovery must re-create the socket on the interface as it now is, as Tomcat's
// setupSocket looks the interface up again by its address; a socket re-created on the
// interface's old index keeps failing, and the node stays deaf and mute for good.
func TestRecoveryFindsARecreatedInterface(t *testing.T) {
	addr := fmt.Sprintf("10.254.%d.%d", os.Getpid()%250, 1+os.Getpid()/250%250)
	_, recreate := dummyInterface(t, addr)
	cfg := localConfig(t)
	cfg.Bind = addr
	cfg.Frequency, cfg.DropTime = 50*time.Millisecond, 400*time.Millisecond
	cfg.RecoveryCounter, cfg.RecoverySleepTime = 3, 100*time.Millisecond
	ea, eb := newEvents(), newEvents()
	ma, mb := member(4001, 1), member(4002, 2)
	a := startService(t, cfg, ma, ea)
	b := startService(t, cfg, mb, eb)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A and B see each other", func() bool {
		_, ab := a.Member(mb.Key())
		_, ba := b.Member(ma.Key())
		return ab && ba
	})

	defer func() {
		if t.Failed() {
			t.Logf("A %+v\nB %+v", a.Stats(), b.Stats())
		}
	}()
	recreate()
	// Both sockets fail (their interface index is gone): after RecoveryCounter errors
	// each is re-created, and must then work.
	testutil.EventuallyTrue(t, 10*time.Second, "A and B recover their sockets", func() bool {
		return a.Stats().Recoveries > 0 && b.Stats().Recoveries > 0
	})
	heard := b.Stats().HeartbeatsReceived
	testutil.EventuallyTrue(t, 10*time.Second, "A and B hear each other after recovery", func() bool {
		_, ab := a.Member(mb.Key())
		_, ba := b.Member(ma.Key())
		return ab && ba && b.Stats().HeartbeatsReceived >= heard+5
	})
}
