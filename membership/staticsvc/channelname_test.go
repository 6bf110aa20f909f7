package staticsvc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
)

// TestOtherChannelNameNeverListed: docs/membership.md says a node configured with another
// channel name never answers, and is never listed. Of three nodes listing each other, b
// has another ChannelName; a and c, with the default, list each other once c started
// and go on pinging each other, while b lists neither and neither lists b, before or
// after several of their pings.
func TestOtherChannelNameNeverListed(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 3)
	cfg := staticsvc.Config{Members: members(t, p[0], p[1], p[2]), ExpirationTime: time.Hour, PingInterval: 20 * time.Millisecond,
		RPCTimeout: 200 * time.Millisecond} // a START to the node that never answers waits for it
	other := cfg
	other.ChannelName = "Other-Channel"
	a, b, c := newNode(t, p[0], cfg), newNode(t, p[1], other), newNode(t, p[2], cfg)
	var fromC atomic.Int32
	a.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		if m.Source.Port == int32(p[2]) {
			fromC.Add(1)
		}
		return nil
	}))
	for _, n := range []*node{a, b, c} {
		if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	// A START is answered before its sender's Start returns.
	if !a.has(p[2]) || !c.has(p[0]) {
		t.Fatalf("a and c, of one channel name, do not list each other: a %v, c %v", a.ch.Members(), c.ch.Members())
	}
	check := func(when string) {
		t.Helper()
		if a.has(p[1]) || c.has(p[1]) {
			t.Errorf("%s: the node of another channel name is listed: a %v, c %v", when, a.ch.Members(), c.ch.Members())
		}
		if ms := b.ch.Members(); len(ms) != 0 {
			t.Errorf("%s: the node of another channel name lists %v", when, ms)
		}
	}
	check("after the starts")
	// c's START and then at least two of its PINGs reached a.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "pings between a and c", func() bool { return fromC.Load() >= 3 })
	check("after pings")
	if _, ok := b.ev.find(true, int32(p[0])); ok {
		t.Error("b reported a added")
	}
}

// TestStartWaitsForANodeOfAnotherChannelName: docs/membership.md says a listed node with
// another channel name, which accepts the TCP connection but never answers the START,
// holds every other node's Start until RPCTimeout (or Start's context) ends. With an
// RPCTimeout of an hour, a's Start has not returned once c answered its START; it
// returns when its context is cancelled, listing c, which answered, and not b.
func TestStartWaitsForANodeOfAnotherChannelName(t *testing.T) {
	p := testutil.FreePorts(t, 3)
	cfg := staticsvc.Config{Members: members(t, p[0], p[1], p[2]), ExpirationTime: time.Hour, PingInterval: time.Hour,
		RPCTimeout: time.Hour}
	other := cfg
	other.ChannelName = "Other-Channel"
	short := cfg
	short.RPCTimeout = 200 * time.Millisecond // c's and b's own STARTs find a down
	// c pings: c's reply to a's START may still be on its way when the test cancels a's
	// Start, which then drops it (2 runs in 10 under load); c's pings make a list it.
	short.PingInterval = 100 * time.Millisecond
	a, b, c := newNode(t, p[0], cfg), newNode(t, p[1], other), newNode(t, p[2], short)
	for _, n := range []*node{b, c} {
		if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.ch.Start(ctx, channel.SvcAll) }()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "c answered a's START", func() bool { return c.has(p[0]) })
	select {
	case err := <-done:
		t.Fatalf("a's Start returned (%v) while b, of another channel name, had not answered its START", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a's Start, its context cancelled while waiting for b: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("a's Start did not return once its context was cancelled")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a lists c, which answered", func() bool { return a.has(p[2]) })
	if a.has(p[1]) {
		t.Errorf("a lists %v after its Start, want c (which answered) and not b", a.ch.Members())
	}
	if ms := b.ch.Members(); len(ms) != 0 {
		t.Errorf("b, of another channel name, lists %v", ms)
	}
}
