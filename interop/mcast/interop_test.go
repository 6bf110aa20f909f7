package mcastinterop_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/netbench"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/wire"
)

const dropTime = 3 * time.Second

// waitLimit bounds waits for what happens within a heartbeat period or two on an idle
// machine (a JVM on a loaded CI machine can be much slower). It is a safety bound, not a
// timing requirement: the waits return as soon as their condition holds.
const waitLimit = 15 * time.Second

// javaMcast starts a Java peer in the multicast group on loopback.
func javaMcast(t *testing.T, group string, port int, args ...string) *javapeer.Peer {
	t.Helper()
	return javapeer.Start(t, append([]string{"--mcast-addr", group, "--mcast-port", strconv.Itoa(port),
		"--mcast-bind", "127.0.0.1"}, args...)...)
}

func javaHas(t *testing.T, p *javapeer.Peer, idHex string) (javapeer.From, bool) {
	ms, err := p.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == idHex {
			return m, true
		}
	}
	return javapeer.From{}, false
}

func isMember(kind, idHex string) func(javapeer.Event) bool {
	return func(e javapeer.Event) bool { return e.Event == kind && e.Member != nil && e.Member.ID == idHex }
}

// TestSeeEachOther: Go and Java nodes in one group see each other, payload and domain
// intact both ways (how long it took is logged).
func TestSeeEachOther(t *testing.T) {
	javapeer.Skip(t)
	group, port := netbench.Group(t.Name())
	g := startGo(t, goOpts{group: group, port: port, domain: "go-dom", payload: []byte{1, 2, 0xff}})
	j := javaMcast(t, group, port, "--domain", "java-dom", "--payload", "0a0b0c")
	up := time.Now()
	testutil.EventuallyTrue(t, waitLimit, "Go sees Java", func() bool { _, ok := g.event(true, j.IDHex()); return ok })
	var fromJava channel.Member
	for _, m := range g.ch.Members() {
		if m.UniqueID.String() == j.IDHex() {
			fromJava = m
		}
	}
	if string(fromJava.Domain) != "java-dom" || !bytes.Equal(fromJava.Payload, []byte{0xa, 0xb, 0xc}) ||
		fromJava.Port != int32(j.Port) || fromJava.AliveTime <= 0 {
		t.Fatalf("Go's view of Java: %+v", fromJava)
	}
	ev := j.WaitEvent(t, waitLimit, isMember("memberAdded", g.idHex()))
	if ev.Member.Domain != "go-dom" || ev.Member.Payload != "0102ff" {
		t.Fatalf("Java's view of Go: %+v", ev.Member)
	}
	m, ok := javaHas(t, j, g.idHex())
	if !ok || m.Domain != "go-dom" || m.Payload != "0102ff" || m.Command != "" {
		t.Fatalf("Java members: %+v", m)
	}
	t.Logf("both saw each other %v after the Java node started", time.Since(up).Round(time.Millisecond))
}

// TestJavaStopAndKill: a Java node that stops is gone from Go through its shutdown packet; a
// killed one through expiry (the times are logged; TestCrashExpiresExactlyAfterDropTime in
// membership/mcast checks the expiry time in fake time).
func TestJavaStopAndKill(t *testing.T) {
	javapeer.Skip(t)
	group, port := netbench.Group(t.Name())
	g := startGo(t, goOpts{group: group, port: port})
	a := javaMcast(t, group, port)
	b := javaMcast(t, group, port)
	testutil.EventuallyTrue(t, waitLimit, "Go sees both", func() bool { return len(g.ch.Members()) == 2 })

	stop := time.Now()
	go a.Stop()
	testutil.EventuallyTrue(t, waitLimit, "clean stop seen", func() bool { _, ok := g.event(false, a.IDHex()); return ok })
	e, _ := g.event(false, a.IDHex())
	if !e.m.IsShutdown() {
		t.Fatalf("stopped Java node gone without BABY-ALEX: %+v", e.m)
	}
	t.Logf("clean stop: gone after %v", e.at.Sub(stop).Round(time.Millisecond))

	kill := time.Now()
	b.Kill()
	testutil.EventuallyTrue(t, dropTime+waitLimit, "killed node gone", func() bool { _, ok := g.event(false, b.IDHex()); return ok })
	e, _ = g.event(false, b.IDHex())
	if e.m.IsShutdown() {
		t.Fatal("a killed node sent a shutdown packet?")
	}
	killedNotBefore(t, "Go", e.at.Sub(kill))
	t.Logf("kill: gone after %v (drop time %v)", e.at.Sub(kill).Round(time.Millisecond), dropTime)
}

// TestGoNodeStopAndKill: the same the other way round, with Go nodes as child processes
// (tribesdemo node) that are stopped with SIGTERM or killed with SIGKILL by PID.
func TestGoNodeStopAndKill(t *testing.T) {
	javapeer.Skip(t)
	bin := netbench.Tribesdemo(t)
	group, port := netbench.Group(t.Name())
	j := javaMcast(t, group, port)
	start := func(name string) *netbench.Proc {
		p := netbench.StartProc(t, name, netbench.ProcOptions{}, bin, "node", "--port", "0",
			"--mcast-addr", group, "--mcast-port", strconv.Itoa(port), "--mcast-bind", "127.0.0.1",
			"--domain", "gd", "--payload", "abcd", "--seconds", "60")
		return p
	}
	a := start("go-a")
	b := start("go-b")
	ida := a.Started(t, 10*time.Second).ID
	idb := b.Started(t, 10*time.Second).ID
	ev := j.WaitEvent(t, waitLimit, isMember("memberAdded", ida))
	if ev.Member.Domain != "gd" || ev.Member.Payload != "abcd" {
		t.Fatalf("Java's view of the Go node: %+v", ev.Member)
	}
	j.WaitEvent(t, waitLimit, isMember("memberAdded", idb))
	if !a.WaitFor(waitLimit, func() bool { return a.Has(j.IDHex()) }) {
		t.Fatal("the Go node does not list the Java node")
	}
	if m, _ := a.Member(j.IDHex()); m.Port != j.Port {
		t.Fatalf("Go node's view of Java: %+v", m)
	}

	stop := time.Now()
	a.Shutdown(10 * time.Second)
	ev = j.WaitEvent(t, waitLimit, isMember("memberDisappeared", ida))
	if ev.Member.Command != hex.EncodeToString([]byte("BABY-ALEX")) {
		t.Fatalf("gone without the shutdown command: %+v", ev.Member)
	}
	t.Logf("clean stop of the Go node: gone at Java after %v", time.Since(stop).Round(time.Millisecond))

	kill := time.Now()
	b.Kill()
	// Java checks expiry on its receive timeout (= frequency): up to DropTime + 500 ms when idle.
	j.WaitEvent(t, dropTime+waitLimit, isMember("memberDisappeared", idb))
	killedNotBefore(t, "Java", time.Since(kill))
	t.Logf("kill of the Go node: gone at Java after %v", time.Since(kill).Round(time.Millisecond))
}

// killedNotBefore fails the test when a killed node was dropped before half the drop time:
// a kill is noticed by expiry, not at once. (Its last heartbeat may have come up to a
// period before the kill, more on a loaded machine: the bound leaves half the drop time
// for that rather than one period, so that the check does not time the machine.)
func killedNotBefore(t *testing.T, who string, gone time.Duration) {
	t.Helper()
	if least := dropTime / 2; gone < least {
		t.Fatalf("%s dropped the killed node after %v, before the drop time (at least %v)", who, gone, least)
	}
}

// TestBroadcastBothWays: an OptMulticast message crosses from Go to Java and back.
func TestBroadcastBothWays(t *testing.T) {
	javapeer.Skip(t)
	group, port := netbench.Group(t.Name())
	g := startGo(t, goOpts{group: group, port: port})
	j := javaMcast(t, group, port)
	testutil.EventuallyTrue(t, waitLimit, "Go sees Java", func() bool { return len(g.ch.Members()) == 1 })

	data := []byte("multicast from go")
	if err := g.ch.Send(context.Background(), nil, data, channel.OptMulticast); err != nil {
		t.Fatal(err)
	}
	ev := j.WaitEvent(t, waitLimit, javapeer.IsMessage)
	if ev.Data != hex.EncodeToString(data) || ev.Options != int(channel.OptMulticast|channel.OptByteMessage) ||
		ev.From.ID != g.idHex() {
		t.Fatalf("Java got %s", ev.Line)
	}

	res, err := j.Send(context.Background(), []string{g.member()}, 1, 100, int(channel.OptMulticast|channel.OptByteMessage), "FROMJAVA")
	if err != nil || res.Sent != 1 {
		t.Fatalf("Java multicast send: %+v %v", res, err)
	}
	testutil.EventuallyTrue(t, waitLimit, "Go receives", func() bool { return len(g.messages()) == 1 })
	got := g.messages()[0]
	if !bytes.Equal(got.Data, javapeer.Content(100, 0, "FROMJAVA")) || got.Options != channel.OptMulticast|channel.OptByteMessage ||
		got.Source.UniqueID.String() != j.IDHex() {
		t.Fatalf("Go got %d bytes, options %v, from %v", len(got.Data), got.Options, got.Source)
	}
}

// TestFailureDetectorProbes: probes cross in both directions and are swallowed on
// arrival; a Java node without the detector shows the exact bytes Go sends.
func TestFailureDetectorProbes(t *testing.T) {
	javapeer.Skip(t)
	group, port := netbench.Group(t.Name())
	fd := mustFD(t)
	g := startGo(t, goOpts{group: group, port: port, ics: []channel.Interceptor{fd}})
	withFD := javaMcast(t, group, port, "--interceptors", "TcpFailureDetector")
	plain := javaMcast(t, group, port)
	testutil.EventuallyTrue(t, waitLimit, "Go verified both", func() bool { return len(g.ch.Members()) == 2 })
	// Java's detector probed Go when it added it; Go swallowed the probe.
	withFD.WaitEvent(t, waitLimit, isMember("memberAdded", g.idHex()))
	testutil.EventuallyTrue(t, waitLimit, "Java's probe swallowed", func() bool { return fd.Stats().Swallowed >= 1 })
	// Go's probe reached the plain Java node as a 64-byte byte message (the Java detector
	// probes it too)...
	ev := plain.WaitEvent(t, waitLimit, func(e javapeer.Event) bool { return e.Event == "message" && e.From.ID == g.idHex() })
	if ev.Data != hex.EncodeToString(interceptors.FailureDetectorProbe()) || ev.Options != int(channel.OptByteMessage) {
		t.Fatalf("probe at Java (Go is %s): %s", g.idHex(), ev.Line)
	}
	// ... and was swallowed by the one with the detector.
	if err := withFD.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, e := range withFD.Pending() {
		if e.Event == "message" {
			t.Fatalf("Java's detector delivered %s", e.Line)
		}
	}
	if n := len(g.messages()); n != 0 {
		t.Fatalf("Go delivered %d messages (probes?)", n)
	}
	if st := fd.Stats(); st.Probes < 2 || st.ProbeFailures != 0 {
		t.Fatalf("Go detector %+v", st)
	}
}

// TestTCPPingBothWays: Go's and Java's TcpPingInterceptor swallow each other's pings. A
// Java node with the interceptor pings every 100 ms on its own thread, and Go's
// interceptor swallows those pings; Go's ping reaches a plain Java node as a 64-byte
// message (TCP_PING_DATA), and the Java node with the interceptor swallows it. Both
// sides ping with optionFlag 1 (a byte message), so that the plain Java node delivers
// the ping's bytes: with Tomcat's default 0 it tries to deserialize them and logs an
// error, whoever sent the ping.
func TestTCPPingBothWays(t *testing.T) {
	javapeer.Skip(t)
	group, port := netbench.Group(t.Name())
	ping, err := interceptors.NewTCPPing(interceptors.TCPPingConfig{Flag: channel.OptByteMessage})
	if err != nil {
		t.Fatal(err)
	}
	g := startGo(t, goOpts{group: group, port: port, ics: []channel.Interceptor{ping}})
	withPing := javaMcast(t, group, port, "--interceptors", "TcpPing(interval=100;useThread=true;optionFlag=1)")
	plain := javaMcast(t, group, port)
	testutil.EventuallyTrue(t, waitLimit, "Go sees both", func() bool { return len(g.ch.Members()) == 2 })
	withPing.WaitEvent(t, waitLimit, isMember("memberAdded", g.idHex()))
	plain.WaitEvent(t, waitLimit, isMember("memberAdded", g.idHex()))
	testutil.EventuallyTrue(t, waitLimit, "Java's pings swallowed on Go", func() bool { return ping.Stats().Swallowed >= 2 })
	before := ping.Stats().Pings
	ping.Ping(context.Background())
	if st := ping.Stats(); st.Pings != before+1 || st.Failed != 0 {
		t.Fatalf("Go ping: %+v", st)
	}
	ev := plain.WaitEvent(t, waitLimit, func(e javapeer.Event) bool { return e.Event == "message" && e.From.ID == g.idHex() })
	if ev.Data != hex.EncodeToString(interceptors.PingPayload()) {
		t.Fatalf("Go's ping at the plain Java node: %s", ev.Line)
	}
	if err := withPing.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, e := range withPing.Pending() {
		if e.Event == "message" {
			t.Fatalf("Java's TcpPingInterceptor delivered %s", e.Line)
		}
	}
	if n := len(g.messages()); n != 0 {
		t.Fatalf("Go delivered %d messages (Java's pings?)", n)
	}
}

// TestSimpleCoordinatorSameView: a Go node and two Java nodes, each with SimpleCoordinator,
// in one multicast group agree on the view (the three members in absolute order) and so
// on the coordinator, without a message between them.
func TestSimpleCoordinatorSameView(t *testing.T) {
	javapeer.Skip(t)
	group, port := netbench.Group(t.Name())
	sc, err := interceptors.NewSimpleCoordinator(interceptors.SimpleCoordinatorConfig{QuietPeriod: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g := startGo(t, goOpts{group: group, port: port, ics: []channel.Interceptor{sc}})
	js := []*javapeer.Peer{javaMcast(t, group, port, "--interceptors", "SimpleCoordinator"),
		javaMcast(t, group, port, "--interceptors", "SimpleCoordinator")}
	var goIDs []string
	testutil.Eventually(t, 30*time.Second, func() error {
		goIDs = goIDs[:0]
		for _, m := range sc.View() {
			goIDs = append(goIDs, m.UniqueID.String())
		}
		if len(goIDs) != 3 {
			return fmt.Errorf("Go's view %v", goIDs)
		}
		return nil
	})
	if coord, ok := sc.Coordinator(); !ok || coord.UniqueID.String() != goIDs[0] {
		t.Fatalf("Go's coordinator %v (%v), view %v", coord.UniqueID, ok, goIDs)
	}
	for i, j := range js {
		// Java installs a view 2.5 s after the membership last changed.
		testutil.Eventually(t, 30*time.Second, func() error {
			view, err := j.CoordinatorView(context.Background())
			if err != nil {
				return err
			}
			var ids []string
			for _, m := range view {
				ids = append(ids, m.ID)
			}
			if !slices.Equal(ids, goIDs) {
				return fmt.Errorf("Java node %d's view %v, Go's %v", i, ids, goIDs)
			}
			return nil
		})
	}
	if n := len(g.messages()); n != 0 {
		t.Errorf("Go delivered %d messages", n)
	}
}

// TestStaticMemberNoticesGoToJava: a Java node lists a Go node as static member; the Go
// node's start notice makes Java add it (again) and its shutdown notice removes it.
func TestStaticMemberNoticesGoToJava(t *testing.T) {
	javapeer.Skip(t)
	goPort := testutil.FreePorts(t, 1)[0]
	var id channel.UniqueID
	copy(id[:], []byte("go-static-member"))
	goMember := fmt.Sprintf("127.0.0.1:%d:%s", goPort, id)
	j := javapeer.Start(t, "--interceptors", "StaticMembership", "--static-members", goMember)
	// Without a failure detector Java announces its static member at once...
	j.WaitEvent(t, waitLimit, isMember("memberAdded", id.String()))
	sm := mustStatic(t, mustMember(t, j.Member()))
	fd := mustFD(t)
	g := startGo(t, goOpts{static: true, id: id, tcpPort: goPort, ics: []channel.Interceptor{fd, sm}})
	testutil.EventuallyTrue(t, waitLimit, "Go adds the Java member", func() bool { _, ok := g.event(true, j.IDHex()); return ok })
	// ... and once more when Go's start notice arrives.
	j.WaitEvent(t, waitLimit, isMember("memberAdded", id.String()))
	// Go's detector probed Java (no detector there): the bytes arrive as a message.
	ev := j.WaitEvent(t, waitLimit, javapeer.IsMessage)
	if ev.Data != hex.EncodeToString(interceptors.FailureDetectorProbe()) {
		t.Fatalf("expected the probe, got %s", ev.Line)
	}
	g.stop(t)
	ev = j.WaitEvent(t, waitLimit, isMember("memberDisappeared", id.String()))
	if ev.Member.Command != hex.EncodeToString([]byte("BABY-ALEX")) {
		t.Fatalf("shutdown notice gave %s", ev.Line)
	}
	for _, e := range j.Pending() {
		if e.Event == "message" {
			t.Errorf("Java delivered a notice as a message: %s", e.Line)
		}
	}
}

// TestStaticMemberNoticesJavaToGo: a Go node lists the Java node's address (no id yet);
// the Java node, with TcpFailureDetector and StaticMembership, probes Go (the probe is
// swallowed), sends its start notice (Go adds it) and on quit its shutdown notice (Go
// removes it).
func TestStaticMemberNoticesJavaToGo(t *testing.T) {
	javapeer.Skip(t)
	javaPort := testutil.FreePorts(t, 1)[0]
	sm := mustStatic(t, mustMember(t, fmt.Sprintf("127.0.0.1:%d", javaPort)))
	fd := mustFD(t)
	g := startGo(t, goOpts{static: true, ics: []channel.Interceptor{fd, sm}})
	j := javapeer.Start(t, "--port", strconv.Itoa(javaPort), "--autobind", "1",
		"--interceptors", "TcpFailureDetector,StaticMembership", "--static-members", g.member())
	j.WaitEvent(t, waitLimit, isMember("memberAdded", g.idHex()))
	testutil.EventuallyTrue(t, waitLimit, "Go adds Java after its start notice", func() bool { _, ok := g.event(true, j.IDHex()); return ok })
	if st := fd.Stats(); st.Swallowed < 1 {
		t.Fatalf("Java's probe not swallowed: %+v", st)
	}
	if n := len(g.messages()); n != 0 {
		t.Fatalf("Go delivered %d messages", n)
	}
	// When Go's detector checked the placeholder after the JVM listened, the placeholder
	// went up as a member; its removal, once learned, may go up after Java's addition.
	testutil.EventuallyTrue(t, waitLimit, "Go's detector settled", fd.Settled)
	if ms := g.ch.Members(); len(ms) != 1 || ms[0].UniqueID.String() != j.IDHex() {
		t.Fatalf("Go members %v", ms)
	}
	j.Stop()
	testutil.EventuallyTrue(t, waitLimit, "Go removes Java after its shutdown notice", func() bool { _, ok := g.event(false, j.IDHex()); return ok })
	if e, _ := g.event(false, j.IDHex()); !e.m.IsShutdown() {
		t.Fatalf("gone without BABY-ALEX: %+v", e.m)
	}
	for _, e := range j.Pending() {
		if e.Event == "message" {
			t.Errorf("Java delivered %s", e.Line)
		}
	}
}

func mustMember(t *testing.T, s string) channel.Member {
	t.Helper()
	m, err := wire.ParseMemberText(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustFD(t *testing.T) *interceptors.TCPFailureDetector {
	t.Helper()
	fd, err := interceptors.NewTCPFailureDetector(interceptors.TCPFailureDetectorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func mustStatic(t *testing.T, members ...channel.Member) *interceptors.StaticMembership {
	t.Helper()
	sm, err := interceptors.NewStaticMembership(interceptors.StaticMembershipConfig{Members: members})
	if err != nil {
		t.Fatal(err)
	}
	return sm
}
