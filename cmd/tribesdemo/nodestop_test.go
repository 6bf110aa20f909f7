package main

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
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
