package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// Started by `cluster` as its crash-demo node: behave as the tribesdemo binary.
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...)
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), nil, &out, &out); code != 2 {
		t.Fatalf("no args: exit %d", code)
	}
	for _, c := range commands {
		if listed := strings.Contains(out.String(), "  "+c.name+" "); listed != (c.summary != "") {
			t.Errorf("usage lists %s: %v, its summary: %q", c.name, listed, c.summary)
		}
	}
	out.Reset()
	if code := run(context.Background(), []string{"bogus"}, &out, &out); code != 2 || !strings.Contains(out.String(), "unknown command") {
		t.Fatalf("bogus: exit %d, %q", code, out.String())
	}
	for _, c := range commands {
		out.Reset()
		if code := run(context.Background(), []string{c.name, "-h"}, &out, &out); code != 0 || !strings.Contains(out.String(), "usage: tribesdemo "+c.name) {
			t.Errorf("%s -h: exit %d, %q", c.name, code, out.String())
		}
	}
}

// Every kind of usage error, invalid values included, exits with 2 and says on stderr what
// is wrong and where the command's usage is; nothing goes to stdout.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		kind string
		args []string
		want string
	}{
		{"unknown flag", []string{"node", "--bogus"}, "flag provided but not defined: -bogus"},
		{"bad flag value", []string{"node", "--port", "abc"}, `invalid value "abc" for flag -port`},
		{"unexpected argument", []string{"load", "extra"}, `unexpected arguments ["extra"]`},
		{"bad --id", []string{"node", "--id", "xyz"}, `--id: tribes/wire: malformed member text: unique id "xyz"`},
		{"bad --static", []string{"send", "--static", "127.0.0.1"}, "--static: tribes/wire: malformed member text"},
		{"bad --payload", []string{"node", "--payload", "zz"}, "--payload:"},
		{"unknown interceptor", []string{"node", "--interceptors", "nosuch"}, `interceptors: tribes: invalid configuration: unknown interceptor "nosuch"`},
		{"bad interceptor property", []string{"node", "--interceptors", "gzip(level=42)"}, "interceptor gzip:"},
		{"refused interceptor order", []string{"node", "--interceptors", "tcpfailure,encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f)"},
			"interceptor tcpfailure above encrypt"},
		{"bad --options", []string{"send", "--options", "fast"}, `--options: tribes: invalid configuration: unknown send option "fast"`},
		{"bad --chat-options", []string{"node", "--chat-options", "fast"}, "--chat-options:"},
		{"value out of range", []string{"load", "--count", "0"}, "--count >= 1"},
		{"negative send size", []string{"send", "--size", "-5"}, "--size -5: want >= 0"},
		{"negative send count", []string{"send", "--count", "-1"}, "--count -1: want >= 0"},
		{"send concurrency 0", []string{"send", "--concurrency", "0"}, "--concurrency 0: want >= 1"},
		{"cluster of one node", []string{"cluster", "--nodes", "1"}, "--nodes 1: want 2..16"},
		{"negative cluster size", []string{"cluster", "--size", "-1"}, "--size -1: want >= 0"},
		{"short drop time", []string{"cluster", "--drop-time", "100ms"}, "--drop-time 100ms: want >= 500ms"},
		{"flags that exclude each other", []string{"node", "--static", "127.0.0.1:4000", "--mcast-addr", "228.0.0.4"}, "--static and --mcast-addr exclude each other"},
		{"cloud and static", []string{"node", "--cloud", "dns", "--static", "127.0.0.1:4000"}, "--cloud excludes --static and --mcast-addr"},
		{"unknown cloud provider", []string{"node", "--cloud", "consul"}, "unknown provider \"consul\""},
		{"invalid transport configuration", []string{"node", "--bind", "0.0.0.0"}, "needs an AdvertiseAddress"},
		{"bad --codec", []string{"sessions", "--codec", "xml"}, `--codec "xml": want go or java`},
		{"quorum without acks", []string{"sessions", "--acked=false", "--cluster-size", "3"}, "--cluster-size needs --acked"},
		{"bad rtt mode", []string{"rtt", "--mode", "fast", "--static", "127.0.0.1:4000"}, "--mode is auto, echo or ack"},
		{"bad bench fan-out", []string{"bench", "--fanout", "17"}, "--fanout 0..16"},
		{"bad bench fan-out sizes", []string{"bench", "--fanout-sizes", "1k"}, `--fanout-sizes: "1k"`},
		{"bad bench runs", []string{"bench", "--runs", "0"}, "--runs 1..9"},
		{"unknown receiver engine", []string{"node", "--engine", "epoll"}, `unknown receiver engine "epoll"`},
		{"unknown bench engine", []string{"bench", "--engine", "epoll"}, `--engine: unknown "epoll"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		hint := fmt.Sprintf("Run 'tribesdemo %s -h' for its usage.", tc.args[0])
		if code != 2 || !strings.Contains(stderr.String(), tc.want) || !strings.Contains(stderr.String(), hint) || stdout.Len() != 0 {
			t.Errorf("%s (%q): exit %d, stderr %q, stdout %q; want exit 2 and %q", tc.kind, tc.args, code, stderr.String(), stdout.String(), tc.want)
		}
	}
}

func TestCluster(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"cluster", "--messages", "20", "--size", "100", "--drop-time", "1s"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	s := out.String()
	for _, want := range []string{"node1 sees node2 join", "node3 sees node1 join", "delivered 40/40",
		"node2 reads user=alice, cart=3", "node4 (pid", "every node dropped node4",
		"node1 saw node3 leave", "stops cleanly: its last heartbeat carries Tribes' shutdown command (BABY-ALEX)", "== done"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

// lines runs a command in the background and returns its stdout lines as they come.
func startCmd(t *testing.T, ctx context.Context, args ...string) (<-chan map[string]any, <-chan int) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		code := run(ctx, args, pw, &errOut)
		pw.Close()
		if code != 0 {
			t.Logf("%v: exit %d: %s", args, code, errOut.String())
		}
		done <- code
	}()
	lines := make(chan map[string]any, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("not a JSON line: %q", sc.Text())
				continue
			}
			lines <- m
		}
	}()
	return lines, done
}

func next(t *testing.T, lines <-chan map[string]any, event string) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before a %q line", event)
			}
			if m["event"] == event {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q line within 30 s", event)
		}
	}
}

func memberArg(m map[string]any) string {
	mb := m["member"].(map[string]any)
	return fmt.Sprintf("%s:%v:%s", mb["host"], mb["port"], mb["id"])
}

func TestNodeAndSend(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const id = "000102030405060708090a0b0c0d0e0f"
	// On the goroutine receiver engine (the other tests run the default one).
	nodeLines, nodeDone := startCmd(t, ctx, "node", "--port", "0", "--id", id, "--echo", "--seconds", "60", "--engine", "goroutine")
	started := next(t, nodeLines, "started")
	if started["member"].(map[string]any)["id"] != id {
		t.Fatalf("node ignored --id: %v", started)
	}
	target := memberArg(started)

	// send: 50 sync-ack messages; the node reports each and echoes it back.
	sendLines, sendDone := startCmd(t, ctx, "send", "--port", "0", "--static", target, "--count", "50", "--size", "10",
		"--options", "use_ack,sync", "--seconds", "30")
	sum := next(t, sendLines, "summary")
	if sum["sent"].(float64) != 50 || sum["failed"].(float64) != 0 || sum["members"].(float64) != 1 {
		t.Fatalf("summary %v", sum)
	}
	if code := <-sendDone; code != 0 {
		t.Fatalf("send exit %d", code)
	}
	msg := next(t, nodeLines, "message")
	if msg["size"].(float64) != 10 || msg["options"].(float64) != 7 {
		t.Fatalf("message line %v", msg)
	}
	// The echo goes back to the sender, which has stopped by now: the node reports the error.
	if e := next(t, nodeLines, "echoed"); e["to"] == nil {
		t.Fatalf("echo line %v", e)
	}
	cancel()
	next(t, nodeLines, "stopped")
	if code := <-nodeDone; code != 0 {
		t.Fatalf("node exit %d", code)
	}
}

// Chat mode: lines typed on stdin reach the other node; the end of stdin stops the node.
// The output is text when --json=false, as on a terminal.
func TestNodeChat(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listener, listenerDone := startCmd(t, ctx, "node", "--port", "0", "--seconds", "60")
	target := memberArg(next(t, listener, "started"))

	pr, pw := io.Pipe()
	old := stdin
	stdin = pr
	defer func() { stdin = old }()
	var chatOut testutil.Buffer
	chatDone := make(chan int, 1)
	go func() {
		// The silent static list: its counts below are the chat lines alone.
		chatDone <- run(ctx, []string{"node", "--port", "0", "--static", target, "--static-protocol=false", "--chat", "--json=false", "--seconds", "60"},
			&chatOut, io.Discard)
	}()
	if _, err := io.WriteString(pw, "hello from chat\n"); err != nil {
		t.Fatal(err)
	}
	msg := next(t, listener, "message")
	if msg["text"] != "hello from chat" || msg["options"].(float64) != 3 {
		t.Fatalf("listener got %v", msg)
	}
	pw.Close() // end of stdin: the chat node stops by itself
	select {
	case code := <-chatDone:
		if code != 0 {
			t.Fatalf("chat node exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("chat node did not stop at the end of stdin")
	}
	s := chatOut.String()
	for _, want := range []string{"started  127.0.0.1:", "type a line to send it", "+ member joined  127.0.0.1:",
		"> sent to 1 member(s)", "stopped: received 0 messages"} {
		if !strings.Contains(s, want) {
			t.Errorf("chat output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, `{"`) { // the started line's uniqueId="{...}" is not JSON
		t.Errorf("text output contains JSON:\n%s", s)
	}
	cancel()
	<-listenerDone
}

// testutil.Buffer is a bytes.Buffer safe for one writer goroutine and a reader.
