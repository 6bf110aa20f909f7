package staticinterop_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/wire"
)

func TestMain(m *testing.M) {
	code := m.Run()
	netbench.Cleanup()
	os.Exit(code)
}

const (
	// listWithin is how soon a starting node must be listed by the other side: both sides
	// exchange START and its reply while the newcomer starts.
	listWithin = 2 * time.Second
	// stopWithin bounds the drop after a clean stop; it is below the expiration time, so
	// only the STOP message can do it.
	stopWithin = 3 * time.Second
	// expiryWithin bounds the drop after a kill: Java checks expiry on its channel
	// heartbeat (5 s) after the 5 s expiration time; Go pings every second.
	expiryWithin = staticsvc.DefaultExpirationTime + 5*time.Second + testutil.WaitLimit
)

var shutdownHex = hex.EncodeToString(wire.ShutdownCommand)

// id returns a fixed unique id for node number n, as 32 hex digits.
func id(n int) string { return fmt.Sprintf("%032x", 0xa0+n) }

func list(ports []int, ids []string) string {
	var s []string
	for i, p := range ports {
		s = append(s, "127.0.0.1:"+strconv.Itoa(p)+":"+ids[i])
	}
	return strings.Join(s, ",")
}

// startJava runs a Java node with Tomcat's StaticMembershipService and default timings,
// on a channel named as a Tomcat cluster's (what the Go nodes expect by default).
func startJava(t *testing.T, port int, nodeID, members string) *javapeer.Peer {
	t.Helper()
	return javapeer.Start(t, "--port", strconv.Itoa(port), "--autobind", "1", "--id", nodeID,
		"--static-membership", members, "--channel-name", staticsvc.DefaultChannelName)
}

// startGo runs `tribesdemo node` with the default static membership (the protocol) and the
// channel's sender check on: the protocol's messages from nodes not listed yet pass it.
func startGo(t *testing.T, bin string, port int, nodeID, members string) *netbench.Proc {
	t.Helper()
	p := netbench.StartProc(t, "go-"+nodeID[28:], netbench.ProcOptions{}, bin, "node", "--port", strconv.Itoa(port),
		"--autobind", "1", "--id", nodeID, "--static", members, "--accept-non-members=false", "--seconds", "120")
	p.Started(t, 30*time.Second)
	return p
}

func member(id string) func(javapeer.Event) bool {
	return func(e javapeer.Event) bool { return e.Member != nil && e.Member.ID == id }
}

func event(kind, id string) func(javapeer.Event) bool {
	return func(e javapeer.Event) bool { return e.Event == kind && member(id)(e) }
}

// javaLists asks the Java node for its member list.
func javaLists(t *testing.T, j *javapeer.Peer, id string) bool {
	t.Helper()
	ms, err := j.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(ms, func(m javapeer.From) bool { return m.ID == id })
}

// TestJavaSeesGo: a Java node with StaticMembershipService lists a Go node as soon as it
// starts, drops it at once when it stops cleanly and after the expiration time when it
// is killed.
func TestJavaSeesGo(t *testing.T) {
	javapeer.Skip(t)
	bin := netbench.Tribesdemo(t)
	ports := testutil.FreePorts(t, 3) // Java, then two runs of the Go node
	ids := []string{id(0), id(1), id(2)}
	j := startJava(t, ports[0], ids[0], list(ports[1:], ids[1:]))
	goList := list(ports[:1], ids[:1])

	// Clean stop.
	g := startGo(t, bin, ports[1], ids[1], goList)
	j.WaitEvent(t, listWithin, event("memberAdded", ids[1]))
	if !javaLists(t, j, ids[1]) {
		t.Fatal("Java's member list lacks the Go node")
	}
	if !g.WaitFor(listWithin, func() bool { return g.Has(ids[0]) }) {
		t.Fatalf("the Go node does not list Java: %v", g.View())
	}
	if m, _ := g.Member(ids[0]); m.Port != ports[0] || m.Host != "127.0.0.1" {
		t.Fatalf("Go's view of Java: %+v", m)
	}
	g.Shutdown(10 * time.Second)
	ev := j.WaitEvent(t, stopWithin, event("memberDisappeared", ids[1]))
	if ev.Member.Command != shutdownHex {
		t.Fatalf("gone without the shutdown command: %s", ev.Line)
	}
	if javaLists(t, j, ids[1]) {
		t.Fatal("Java still lists the stopped Go node")
	}

	// Kill.
	g = startGo(t, bin, ports[2], ids[2], goList)
	j.WaitEvent(t, listWithin, event("memberAdded", ids[2]))
	kill := time.Now()
	g.Kill()
	ev = j.WaitEvent(t, expiryWithin, event("memberDisappeared", ids[2]))
	if ev.Member.Command != "" {
		t.Fatalf("a killed node sent a shutdown? %s", ev.Line)
	}
	notBefore(t, "Java", time.Since(kill))
	t.Logf("kill of the Go node: gone at Java after %v", time.Since(kill).Round(time.Millisecond))
}

// TestGoSeesJava: a Go node lists a Java node as soon as it starts, drops it at once when
// it stops cleanly and after the expiration time when it is killed.
func TestGoSeesJava(t *testing.T) {
	javapeer.Skip(t)
	bin := netbench.Tribesdemo(t)
	ports := testutil.FreePorts(t, 3) // Go, then two runs of the Java node
	ids := []string{id(3), id(4), id(5)}
	g := startGo(t, bin, ports[0], ids[0], list(ports[1:], ids[1:]))
	javaList := list(ports[:1], ids[:1])

	// Clean stop.
	j := startJava(t, ports[1], ids[1], javaList)
	if !g.WaitFor(listWithin, func() bool { return g.Has(ids[1]) }) {
		t.Fatalf("the Go node does not list Java: %v", g.View())
	}
	j.WaitEvent(t, listWithin, event("memberAdded", ids[0]))
	gone := func(id string, within time.Duration) netbench.Member {
		t.Helper()
		var m netbench.Member
		ok := g.WaitFor(within, func() bool {
			for _, e := range g.Events() {
				if e.Kind == "gone" && e.Member.ID == id {
					m = e.Member
					return true
				}
			}
			return false
		})
		if !ok {
			t.Fatalf("the Go node did not drop %s within %v: %v", id, within, g.View())
		}
		return m
	}
	j.Stop()
	if m := gone(ids[1], stopWithin); !m.Shutdown() {
		t.Fatalf("Java left without the shutdown command: %+v", m)
	}

	// Kill.
	j = startJava(t, ports[2], ids[2], javaList)
	if !g.WaitFor(listWithin, func() bool { return g.Has(ids[2]) }) {
		t.Fatalf("the Go node does not list the second Java node: %v", g.View())
	}
	kill := time.Now()
	j.Kill()
	if m := gone(ids[2], expiryWithin); m.Shutdown() {
		t.Fatalf("a killed node sent a shutdown? %+v", m)
	}
	notBefore(t, "Go", time.Since(kill))
	t.Logf("kill of the Java node: gone at Go after %v", time.Since(kill).Round(time.Millisecond))
}

// notBefore fails the test when a killed node was dropped before half the expiration
// time: a kill is noticed by expiry, not by the closed connection. (Its last ping may have
// come up to an interval before the kill, more on a loaded machine: the bound leaves half
// the expiration time for that, so that the check does not time the machine.)
func notBefore(t *testing.T, who string, gone time.Duration) {
	t.Helper()
	if least := staticsvc.DefaultExpirationTime / 2; gone < least {
		t.Fatalf("%s dropped the killed node after %v, before the expiration time (at least %v)", who, gone, least)
	}
}
