package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/wire"
)

// startStaticNodes runs the suite's nodes (newNode) A and, with runB, B in this process
// with the static membership protocol (staticsvc), C listed but not running, and returns
// a cluster around them (A's /stats served) and A's service. With runB it returns once
// A lists B.
func startStaticNodes(t *testing.T, runB bool) (*cluster, *staticsvc.Service) {
	t.Helper()
	ports, release, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	var ids [3]wire.UniqueID
	for i := range ids {
		ids[i][0], ids[i][15] = byte(i+1), 0xaa
	}
	member := func(i int) string {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])) + ":" + ids[i].String()
	}
	cfg := defaultSuite("", true)
	c := &cluster{cfg: cfg, opts: clusterOpts{staticProtocol: true}}
	var nodes []*suiteNode
	for i, name := range []string{"A", "B", "C"} {
		c.nodes[i] = &proc{name: name, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])), id: ids[i]}
		if i == 2 || (i == 1 && !runB) {
			continue
		}
		var others []string
		for j := range 3 {
			if j != i {
				others = append(others, member(j))
			}
		}
		f := nodeFlags{name: name, id: ids[i].String(), port: ports[i], static: strings.Join(others, ","), staticProtocol: true,
			firstFrameTimeout: cfg.firstFrame, frameTimeout: cfg.frame}
		n, err := newNode(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = n.ch.Start(ctx, channel.SvcAll)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = n.ch.Stop(sctx, channel.SvcAll)
		})
		nodes = append(nodes, n)
	}
	release()
	srv := httptest.NewServer(nodes[0].mux())
	t.Cleanup(srv.Close)
	c.nodes[0].ctrl = srv.Listener.Addr().String()
	svc, ok := nodes[0].ch.Membership().(*staticsvc.Service)
	if !ok {
		t.Fatalf("membership %T, want the static membership protocol", nodes[0].ch.Membership())
	}
	if runB {
		if err := poll(context.Background(), 10*time.Second, func() (bool, error) {
			return len(nodes[0].ch.Members()) == 1, nil
		}); err != nil {
			t.Fatalf("A does not list B: %v", err)
		}
	}
	return c, svc
}

// TestForgedStopRefutedByAStaticsvcTarget: forged-stop against a Go node with the static
// membership protocol and a live member B: each check of a stranger's MSG_STOP naming B
// gets B's answer, so the STOPs are refuted (Stats.StopsRefuted rises), B stays listed,
// and the attack counts no breach.
func TestForgedStopRefutedByAStaticsvcTarget(t *testing.T) {
	c, svc := startStaticNodes(t, true)
	bKey := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(mustPort(t, c.nodes[1].addr)), UniqueID: c.nodes[1].id}.Key()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	out, err := forgedStop(ctx, c)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out.note)
	if n := svc.Stats().StopsRefuted; n == 0 {
		t.Errorf("the target refuted no STOP: %s", out.note)
	}
	if _, ok := svc.Member(bKey); !ok {
		t.Errorf("the target no longer lists B: %s", out.note)
	}
	if out.breaches != 0 {
		t.Errorf("forged-stop counted %d breaches against a target that refutes the STOPs: %s", out.breaches, out.note)
	}
}

// TestForgedStopMustBeRefuted: forged-stop must not pass against a target that refuted
// no STOP (here B does not run, so the target lists no B to check and its STOPs are
// refuted by nobody): the attack shows nothing of the defence.
func TestForgedStopMustBeRefuted(t *testing.T) {
	c, svc := startStaticNodes(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	out, err := forgedStop(ctx, c)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if n := svc.Stats().StopsRefuted; n != 0 {
		t.Fatalf("a STOP naming a member that does not run was refuted %d times", n)
	}
	if out.breaches == 0 {
		t.Errorf("forged-stop passed (0 breaches) although the target refuted no STOP: %s", out.note)
	}
}

func mustPort(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
