package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/freeport"
	"github.com/gotribes/tribes/internal/testutil"
)

// The README runs "send --options use_ack,sync" against "node --echo". The node echoes
// every message with its options, and send, which had no listener, answered each echo
// FAIL_ACK (nothing accepted it): the node printed a failed echo for every message (10 000
// there) and counted them in its stopped line. send and load now take the echoes, wait for
// the last ones and count them; the node's echoes all succeed.
func TestSendAndLoadTakeTheEchoes(t *testing.T) {
	for _, tool := range []string{"send", "load"} {
		t.Run(tool, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			lines, done := startCmd(t, ctx, "node", "--port", "0", "--echo", "--json", "--seconds", "60")
			target := memberArg(next(t, lines, "started"))
			const n = 200
			args := []string{"--port", "0", "--static", target, "--count", "200", "--size", "100", "--options", "use_ack,sync"}
			var echoes int64
			if tool == "send" {
				res, err := runJSON[sendResult](t, runSend, append(args, "--concurrency", "4")...)
				if err != nil || res.Sent != n {
					t.Fatalf("send: %v %+v", err, res)
				}
				echoes = res.Echoes
			} else {
				res, err := runJSON[loadResult](t, runLoad, append(args, "--threads", "4", "--json")...)
				if err != nil || res.Sent != n {
					t.Fatalf("load: %v %+v", err, res)
				}
				echoes = res.Echoes
			}
			if echoes != n {
				t.Errorf("%s counted %d echoes, want %d", tool, echoes, n)
			}
			// Every echo's line, then the stop: an echo still waiting for its ACK when the
			// node stops fails on the node's side, not the tool's.
			echoed, failed := 0, 0
			var stopped map[string]any
			count := func(m map[string]any) {
				switch m["event"] {
				case "echoed":
					echoed++
					if m["error"] != nil {
						failed++
						if failed == 1 {
							t.Errorf("an echo to %s failed: %v", tool, m["error"])
						}
					}
				case "stopped":
					stopped = m
				}
			}
			timeout := time.After(testutil.WaitLimit)
			for echoed < n {
				select {
				case m, ok := <-lines:
					if !ok {
						t.Fatalf("node output ended after %d echoes", echoed)
					}
					count(m)
				case <-timeout:
					t.Fatalf("%d echo lines within %v, want %d", echoed, testutil.WaitLimit, n)
				}
			}
			cancel()
			for m := range lines {
				count(m)
			}
			if code := <-done; code != 0 {
				t.Fatalf("node exit %d", code)
			}
			if echoed != n || failed != 0 || stopped["echoFailed"] != nil {
				t.Errorf("node: %d echoes, %d failed, stopped line %v; want %d, none failed", echoed, failed, stopped, n)
			}
		})
	}
}

// send's summary listed the first 5 distinct error texts, and each names its message, so
// 1000 sends to a listed member that does not run gave 5 copies of one cause ("send of
// message <id> failed ... connection refused"). They are now listed by member and cause,
// as load's table: one entry here.
func TestSendListsEachFailureCauseOnce(t *testing.T) {
	ports, release, err := freeport.Pick(1, freeport.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	to := fmt.Sprintf("127.0.0.1:%d:00000000000000000000000000000009", ports[0])
	res, err := runJSON[sendResult](t, runSend, "--port", "0", "--static", to, "--count", "20", "--max-retries", "-1")
	if err == nil || res.Failed != 20 {
		t.Fatalf("send to a member not running: %v %+v", err, res)
	}
	if len(res.Errors) != 1 || !strings.HasPrefix(res.Errors[0], fmt.Sprintf("127.0.0.1:%d: ", ports[0])) ||
		!strings.Contains(res.Errors[0], "connect") || strings.Contains(res.Errors[0], "send of message") {
		t.Errorf("errors %q, want one: the member and its cause", res.Errors)
	}
}

// send and load counted every message they took but the member protocol's as an echo,
// other nodes' tcpfailure probes and pings included (a member with those interceptors,
// on multicast, probes load's node on every heartbeat): "echoes" counted them, and wait
// took them for the last echoes. The sink now counts the echo only; the checks' ACKs
// are still waited for.
func TestEchoSinkCountsNoChecks(t *testing.T) {
	nw := channeltest.NewNetwork()
	ctx := context.Background()
	var chans []*channel.Channel
	for range 2 {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	sink := addEchoSink(chans[1])
	for _, ch := range chans {
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
	}
	for _, data := range [][]byte{interceptors.FailureDetectorProbe(), interceptors.PingPayload(), []byte("echo")} {
		if err := chans[0].Send(ctx, nil, data, channel.OptUseAck|channel.OptSyncAck); err != nil {
			t.Fatal(err)
		}
	}
	if n, acked := sink.n.Load(), sink.acked.Load(); n != 1 || acked != 3 {
		t.Errorf("sink counted %d echoes and %d acked messages, want 1 and 3", n, acked)
	}
	if got := sink.wait(ctx, 1, testutil.WaitLimit); got != 1 {
		t.Errorf("wait returned %d, want 1", got)
	}
}
