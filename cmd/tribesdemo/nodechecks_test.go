package main

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// The README runs "node --echo" beside a program with Interceptors "ping,tcpfailure", whose
// failure detector probes the node (64 bytes, TcpFailureDetector.TCP_FAIL_DETECT) when it
// adds it and on every ping. The node has no tcpfailure to swallow them, and printed each
// as a 64-byte message and echoed it back, beside the "hello" the README says it prints.
// It now prints one "check" line for the sender's first probe, echoes none, and counts
// them in its stopped line; the program's own message is printed and echoed as before.
func TestNodeEchoLeavesOtherNodesChecksAlone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startCmd(t, ctx, "node", "--port", "0", "--echo", "--json", "--seconds", "60")
	target := memberArg(next(t, lines, "started"))

	// The README's program: a silent static list, "ping,tcpfailure".
	peers, err := wire.ParseMemberList(target)
	if err != nil {
		t.Fatal(err)
	}
	tcfg := nio.DefaultConfig()
	tcfg.Port = 0
	ch, err := node.New(node.Config{Transport: &tcfg, StaticMembers: peers, Interceptors: "ping,tcpfailure"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(m.Data))
		return nil
	}))
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ch.Stop(context.Background(), channel.SvcAll) }()
	var ping *interceptors.TCPPing
	var fd *interceptors.TCPFailureDetector
	for _, ic := range ch.Interceptors() {
		switch v := ic.(type) {
		case *interceptors.TCPPing:
			ping = v
		case *interceptors.TCPFailureDetector:
			fd = v
		}
	}
	if ping == nil || fd == nil {
		t.Fatalf("stack %v lacks ping or tcpfailure", ch.Interceptors())
	}
	if err := ch.WaitForMembers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// More probes than the one of WaitForMembers: the ping forces a check each time.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "3 probes made", func() bool {
		ping.Ping(ctx)
		return fd.Stats().Probes >= 3
	})
	if err := ch.Send(ctx, nil, []byte("hello"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "hello echoed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	cancel()

	var checks []map[string]any
	var stopped map[string]any
	messages, echoed := 0, 0
	for m := range lines {
		switch m["event"] {
		case "check":
			checks = append(checks, m)
		case "message":
			messages++
			if m["text"] != "hello" {
				t.Errorf("node printed a message other than hello: %v", m)
			}
		case "echoed":
			echoed++
			if m["size"].(float64) != 5 {
				t.Errorf("node echoed something else than hello: %v", m)
			}
		case "stopped":
			stopped = m
		}
	}
	if code := <-done; code != 0 {
		t.Fatalf("node exit %d", code)
	}
	if messages != 1 || echoed != 1 {
		t.Errorf("node printed %d message and %d echoed lines, want 1 and 1 (hello)", messages, echoed)
	}
	if len(checks) != 1 || checks[0]["kind"] != "tcpfailure" || !strings.HasPrefix(target, checks[0]["from"].(map[string]any)["host"].(string)) {
		t.Errorf("check lines %v, want one, of kind tcpfailure", checks)
	}
	// Probes made before the hello was sent; one may still have been on its way at the stop.
	if n, _ := stopped["checks"].(float64); n < 2 {
		t.Errorf("stopped line %v counts %v checks, want at least 2", stopped, stopped["checks"])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "hello" {
		t.Errorf("the program received %q, want only its hello back", got)
	}
	if sw := fd.Stats().Swallowed; sw != 0 {
		t.Errorf("the program's detector swallowed %d probes the node sent back", sw)
	}
}

// checkKind tells the two interceptors' check data apart from any other message, and the
// stopped line counts checks (JSON and text) only when there were some.
func TestCheckKindAndStoppedLine(t *testing.T) {
	for _, c := range []struct {
		data []byte
		want string
	}{
		{interceptors.FailureDetectorProbe(), "tcpfailure"},
		{interceptors.PingPayload(), "ping"},
		{[]byte("hello"), ""},
		{make([]byte, 64), ""},
		{append(interceptors.PingPayload(), 0), ""},
	} {
		if got := checkKind(c.data); got != c.want {
			t.Errorf("checkKind(%x) = %q, want %q", c.data, got, c.want)
		}
	}
	for _, asJSON := range []bool{true, false} {
		for _, n := range []int64{0, 4} {
			var b strings.Builder
			var c nodeCounts
			c.received.Store(5)
			c.checks.Store(n)
			(&nodePrinter{w: newLineWriter(&b), raw: &b, json: asJSON}).stopped(&c)
			has := strings.Contains(b.String(), `"checks":4`) || strings.Contains(b.String(), "4 of them other nodes' tcpfailure probes or pings")
			if has != (n > 0) || strings.Contains(b.String(), "checks\":0") || strings.Contains(b.String(), "0 of them") {
				t.Errorf("json %v, %d checks: stopped line %q", asJSON, n, b.String())
			}
		}
	}
	probe := &channel.Message{Source: channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000}, Data: interceptors.FailureDetectorProbe()}
	var b strings.Builder
	(&nodePrinter{w: newLineWriter(&b), raw: &b}).check(probe, "tcpfailure")
	if !strings.Contains(b.String(), "· 127.0.0.1:4000 checks this node: a probe of its tcpfailure interceptor (Tribes' TcpFailureDetector), 64 bytes, not a message: not echoed") {
		t.Errorf("text check line %q", b.String())
	}
	var c checkCounter
	from := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000}
	if !c.first(from, "tcpfailure") || c.first(from, "tcpfailure") || !c.first(from, "ping") || c.n.Load() != 3 {
		t.Errorf("first of each sender and kind only: n %d", c.n.Load())
	}
}
