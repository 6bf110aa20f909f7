package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/freeport"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// A node stopped while an echo is on its way printed its stopped line first, so the echo's
// line came after it and a failed echo was missing from its count. It now waits for its
// echoes before the stopped line: the echo held here (its receiver's listener does not
// return until the node printed its last line) is the line before it, and counted.
func TestNodeStoppedLineComesAfterItsEchoes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startCmd(t, ctx, "node", "--port", "0", "--echo", "--json", "--seconds", "60")
	target := memberArg(next(t, lines, "started"))
	peers, err := wire.ParseMemberList(target)
	if err != nil {
		t.Fatal(err)
	}
	tcfg := nio.DefaultConfig()
	tcfg.Port = 0
	ch, err := node.New(node.Config{Transport: &tcfg, StaticMembers: peers})
	if err != nil {
		t.Fatal(err)
	}
	inListener, release := make(chan struct{}, 1), make(chan struct{})
	ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		inListener <- struct{}{}
		<-release
		return nil
	}))
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ch.Stop(context.Background(), channel.SvcAll) }()
	defer close(release)
	if err := ch.Send(ctx, nil, []byte("x"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatal(err)
	}
	<-inListener // the node's echo waits for this listener's ACK
	cancel()
	var events []map[string]any
	for m := range lines {
		events = append(events, m)
	}
	if code := <-done; code != 0 {
		t.Fatalf("node exit %d", code)
	}
	last := events[len(events)-1]
	if last["event"] != "stopped" {
		t.Fatalf("last line %v, want the stopped line (lines %v)", last, events)
	}
	failed := 0
	for _, m := range events {
		if m["event"] == "echoed" && m["error"] != nil {
			failed++
		}
	}
	if n, _ := last["echoFailed"].(float64); int(n) != failed {
		t.Errorf("stopped line counts %v failed echoes, the lines show %d (lines %v)", last["echoFailed"], failed, events)
	}
	if events[len(events)-2]["event"] != "echoed" {
		t.Errorf("the line before the stopped line is %v, want the held echo's", events[len(events)-2])
	}
}

// getting-started.md's two static nodes: the second one's peer answers the member
// protocol at once, and its "member joined" line came before its "started" line (seen on
// a terminal: "+ member joined 127.0.0.1:4000" above "started 127.0.0.1:4001"). The started
// line is now always the first, and the member's follows it.
func TestNodeStartedLineComesFirst(t *testing.T) {
	ports, release, err := freeport.Pick(2, freeport.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	const idA, idB = "00000000000000000000000000000001", "00000000000000000000000000000002"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, doneA := startCmd(t, ctx, "node", "--port", fmt.Sprint(ports[0]), "--autobind", "1", "--id", idA, "--json",
		"--static", fmt.Sprintf("127.0.0.1:%d:%s", ports[1], idB), "--quiet", "--seconds", "60")
	next(t, a, "started")
	b, doneB := startCmd(t, ctx, "node", "--port", fmt.Sprint(ports[1]), "--autobind", "1", "--id", idB, "--json",
		"--static", fmt.Sprintf("127.0.0.1:%d:%s", ports[0], idA), "--quiet", "--seconds", "60")
	var first map[string]any
	select {
	case first = <-b:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("no line from the second node")
	}
	if first["event"] != "started" {
		t.Errorf("the second node's first line is %v, want its started line", first)
	}
	added := next(t, b, "member-added")
	if id := added["member"].(map[string]any)["id"]; id != idA {
		t.Errorf("member added %v, want %s", added, idA)
	}
	cancel()
	for range a {
	}
	for range b {
	}
	if <-doneA != 0 || <-doneB != 0 {
		t.Error("a node exited with an error")
	}
}

// The stopped line counted the static member protocol's messages with the user's: a node
// of getting-started.md's first cluster, sent 1000 messages, said "received 1039 ...
// sent 40" though it sent none. Node a echoes 20 messages of send while its member b
// runs the protocol with it: its stopped line counts the 20 received (20 × 10 bytes) and
// the 20 echoes sent, b's nothing.
func TestNodeStoppedLineCountsNoMemberProtocol(t *testing.T) {
	ports, release, err := freeport.Pick(2, freeport.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	const idA, idB = "00000000000000000000000000000001", "00000000000000000000000000000002"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	memberA, memberB := fmt.Sprintf("127.0.0.1:%d:%s", ports[0], idA), fmt.Sprintf("127.0.0.1:%d:%s", ports[1], idB)
	a, doneA := startCmd(t, ctx, "node", "--port", fmt.Sprint(ports[0]), "--autobind", "1", "--id", idA, "--json",
		"--static", memberB, "--echo", "--quiet", "--seconds", "60")
	next(t, a, "started")
	b, doneB := startCmd(t, ctx, "node", "--port", fmt.Sprint(ports[1]), "--autobind", "1", "--id", idB, "--json",
		"--static", memberA, "--quiet", "--seconds", "60")
	next(t, b, "member-added")
	next(t, a, "member-added") // the protocol ran both ways
	res, err := runJSON[sendResult](t, runSend, "--port", "0", "--static", memberA, "--count", "20", "--size", "10",
		"--options", "use_ack,sync", "--seconds", "30")
	if err != nil || res.Sent != 20 || res.Echoes != 20 {
		t.Fatalf("send: %v %+v", err, res)
	}
	cancel()
	stopped := func(lines <-chan map[string]any) map[string]any {
		var last map[string]any
		for m := range lines {
			if m["event"] == "stopped" {
				last = m
			}
		}
		return last
	}
	sa, sb := stopped(a), stopped(b)
	if <-doneA != 0 || <-doneB != 0 {
		t.Fatal("a node exited with an error")
	}
	if sa["received"] != 20.0 || sa["bytes"] != 200.0 || sa["sent"] != 20.0 {
		t.Errorf("a's stopped line %v, want received 20, bytes 200, sent 20 (its echoes)", sa)
	}
	if sb["received"] != 0.0 || sb["bytes"] != 0.0 || sb["sent"] != 0.0 {
		t.Errorf("b's stopped line %v, want nothing received or sent", sb)
	}
}
