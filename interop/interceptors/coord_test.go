package interceptorinterop_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/node"
)

// coordTap records the raw coordination messages a Go node receives, below its
// coordinator, so that the test can check that Java's bytes re-encode identically.
type coordTap struct {
	channel.InterceptorBase
	raw lockedList[[]byte]
}

func (c *coordTap) MessageReceived(msg *channel.Message) error {
	if interceptors.IsCoordinationMessage(msg.Data) {
		c.raw.add(bytes.Clone(msg.Data))
	}
	return c.Prev().MessageReceived(msg)
}

// javaCoordinator starts a Java peer running Tribes' NonBlockingCoordinator. The
// coordinator starts every level, multicast membership included, so the peer gets a
// private group on loopback with TTL 0. port 0 means ephemeral.
func javaCoordinator(t *testing.T, port int) *javapeer.Peer {
	args := []string{"--interceptors", "NonBlockingCoordinator", "--log-level", "INFO",
		"--mcast-addr", fmt.Sprintf("239.255.%d.%d", randomPort(1, 250), randomPort(1, 250)),
		"--mcast-port", strconv.Itoa(randomPort(46000, 9000)), "--mcast-bind", "127.0.0.1", "--ttl", "0"}
	if port != 0 {
		args = append(args, "--port", strconv.Itoa(port))
	}
	return javapeer.Start(t, args...)
}

// javaAcceptedView waits until the Java coordinator logs an accepted view whose coordinator
// listens on coordPort and which holds every port of ports. Tribes only logs its views
// (CoordinationEvent EVT_CONF_RX at INFO), so this reads the peer's stderr.
func javaAcceptedView(t *testing.T, p *javapeer.Peer, coordPort int, ports ...int) {
	t.Helper()
	testutil.Eventually(t, 45*time.Second, func() error {
		blocks := strings.Split(p.Stderr(), "CoordinationEvent[")
		for i := len(blocks) - 1; i > 0; i-- {
			b := blocks[i]
			if !strings.Contains(b, "Info: Accepted View") {
				continue
			}
			coord, view := lineAfter(b, "Coord:"), lineAfter(b, "View:")
			ok := strings.HasSuffix(coord, ":"+strconv.Itoa(coordPort))
			for _, port := range ports {
				ok = ok && strings.Contains(view, ":"+strconv.Itoa(port))
			}
			if ok {
				return nil
			}
			return fmt.Errorf("java never accepted a view led by port %d with ports %v; last accepted view:\n%s", coordPort, ports, b)
		}
		return fmt.Errorf("java accepted no view yet (a view led by port %d with ports %v is expected)", coordPort, ports)
	})
}

func lineAfter(block, key string) string {
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, key) {
			return strings.TrimSpace(strings.TrimPrefix(l, key))
		}
	}
	return ""
}

// goCoordinator starts a Go node with a NonBlockingCoordinator over a coordTap.
func goCoordinator(t *testing.T, port int, java channel.Member) (*goNode, *interceptors.NonBlockingCoordinator, *coordTap, chan []channel.Member) {
	views := make(chan []channel.Member, 16)
	c, err := interceptors.NewNonBlockingCoordinator(interceptors.NonBlockingCoordinatorConfig{
		WaitTimeout:  2 * time.Second,
		OnViewChange: func(v []channel.Member, _ [16]byte) { views <- v },
	})
	if err != nil {
		t.Fatal(err)
	}
	tap := &coordTap{}
	g := startGoNode(t, node.Config{Above: []channel.Interceptor{c, tap}}, port, java)
	return g, c, tap, views
}

func waitGoView(t *testing.T, views chan []channel.Member, coordPort int, size int) []channel.Member {
	t.Helper()
	timeout := time.After(45 * time.Second)
	for {
		select {
		case v := <-views:
			if len(v) == size && int(v[0].Port) == coordPort {
				return v
			}
		case <-timeout:
			t.Fatalf("go never installed a %d-member view led by port %d", size, coordPort)
		}
	}
}

// checkReencode: every coordination message Java sent parses, and re-encodes to exactly
// Java's bytes.
func checkReencode(t *testing.T, tap *coordTap, min int) {
	t.Helper()
	raw := tap.raw.get()
	if len(raw) < min {
		t.Fatalf("%d coordination messages from Java, want at least %d", len(raw), min)
	}
	for i, b := range raw {
		m, err := interceptors.ParseCoordinationMessage(b)
		if err != nil {
			t.Fatalf("java message %d: %v\n%x", i, err, b)
		}
		re, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(re, b) {
			t.Fatalf("java message %d (%v) re-encodes differently (%v)\njava %x\n  go %x", i, m.Type, err, b, re)
		}
	}
}

// A Go member first in absolute order (lower port, same host) leads: its token goes
// through Java's NonBlockingCoordinator and back, and both install the view it confirms.
func TestNonBlockingCoordinatorGoLeads(t *testing.T) {
	p := javaCoordinator(t, 0) // ephemeral: 32768 and up
	jm := javaMember(t, p)
	g, c, tap, views := goCoordinator(t, testutil.FreePorts(t, 1)[0], jm) // below the ephemeral range Java's port 0 picks from
	gp := int(g.ch.LocalMember().Port)
	if gp >= p.Port {
		t.Skipf("go port %d is not below java's %d", gp, p.Port)
	}
	v := waitGoView(t, views, gp, 2)
	if !v[1].Equal(jm) || !c.IsCoordinator() {
		t.Fatalf("go view %v", v)
	}
	javaAcceptedView(t, p, gp, gp, p.Port)
	ev := p.WaitEvent(t, 30*time.Second, func(e javapeer.Event) bool {
		return e.Event == "memberAdded" && e.Member != nil && e.Member.Port == gp
	})
	if ev.Member.ID != g.ch.LocalMember().UniqueID.String() {
		t.Fatalf("java added %+v", ev.Member)
	}
	checkReencode(t, tap, 1) // the token Java passed back
	if s := c.Stats(); s.BadMessages != 0 || s.ElectionsStarted == 0 {
		t.Fatalf("go stats %+v", s)
	}
}

// A Java member first in absolute order leads. Java does not see the Go member (no
// multicast between them), so Go, after waiting WaitTimeout, sends a token itself; Java
// learns the Go member from it, and its heartbeat starts the election that both accept.
func TestNonBlockingCoordinatorJavaLeads(t *testing.T) {
	p := javaCoordinator(t, testutil.FreePorts(t, 1)[0]) // below the ephemeral range
	jm := javaMember(t, p)
	g, c, tap, views := goCoordinator(t, 0, jm)
	gp := int(g.ch.LocalMember().Port)
	if gp <= p.Port {
		t.Skipf("go port %d is not above java's %d", gp, p.Port)
	}
	v := waitGoView(t, views, p.Port, 2)
	if !v[0].Equal(jm) || c.IsCoordinator() {
		t.Fatalf("go view %v", v)
	}
	javaAcceptedView(t, p, p.Port, p.Port, gp)
	checkReencode(t, tap, 2) // Java's request and its confirmation
	if s := c.Stats(); s.BadMessages != 0 || s.ElectionsStarted == 0 || s.MessagesReceived < 2 {
		t.Fatalf("go stats %+v", s)
	}
}
