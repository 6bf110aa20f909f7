package interceptorinterop_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...)
}

// goNode is a Go channel on loopback (nio transport, static membership) with an
// interceptor stack built from a spec, plus optional extra interceptors below it.
type goNode struct {
	ch   *channel.Channel
	ics  []channel.Interceptor
	msgs chan *channel.Message
}

type nodeOpts struct {
	port  int // 0: ephemeral
	extra []channel.Interceptor
}

func startGo(t *testing.T, spec string, o nodeOpts, members ...channel.Member) *goNode {
	t.Helper()
	return startGoNode(t, node.Config{Interceptors: spec, Below: o.extra}, o.port, members...)
}

// startGoNode starts a node of cfg on port (0: ephemeral) with these static members.
func startGoNode(t *testing.T, cfg node.Config, port int, members ...channel.Member) *goNode {
	t.Helper()
	tcfg := nio.DefaultConfig()
	tcfg.Port = port
	tcfg.Timeout = 20 * time.Second // large messages under -race on a shared 2-core machine
	cfg.Transport, cfg.StaticMembers = &tcfg, members
	ch, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &goNode{ch: ch, ics: ch.Interceptors(), msgs: make(chan *channel.Message, 4096)}
	n.ch.AddMessageListener(channel.MessageListenerFunc(func(m *channel.Message) error {
		select {
		case n.msgs <- m:
		default:
			t.Errorf("go listener queue full")
		}
		return nil
	}))
	channeltest.Start(t, n.ch)
	return n
}

func (n *goNode) member() string { return wire.FormatMemberText(n.ch.LocalMember()) }

func (n *goNode) next(t *testing.T, timeout time.Duration) *channel.Message {
	t.Helper()
	select {
	case m := <-n.msgs:
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %v", timeout)
		return nil
	}
}

// expectNone fails if a message was delivered. Call it once the sends in question are
// known to have been processed: OptSyncAck sends return only after the receiver's
// listeners ran, so no waiting is needed (or meaningful) after them.
func (n *goNode) expectNone(t *testing.T) {
	t.Helper()
	select {
	case m := <-n.msgs:
		t.Fatalf("unexpected message of %d bytes", len(m.Data))
	default:
	}
}

// find returns the first interceptor of type T in the node's stack.
func find[T channel.Interceptor](t *testing.T, n *goNode) T {
	t.Helper()
	for _, ic := range n.ics {
		if v, ok := ic.(T); ok {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T in the stack", zero)
	return zero
}

func javaMember(t *testing.T, p *javapeer.Peer) channel.Member {
	t.Helper()
	m, err := p.ChannelMember()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// goToJava sends data from g and waits until the Java peer delivers the same bytes; it
// returns the Java event.
func goToJava(t *testing.T, g *goNode, p *javapeer.Peer, data []byte, opts channel.SendOptions) javapeer.Event {
	t.Helper()
	if err := g.ch.Send(ctxFor(t, 60*time.Second), nil, data, opts); err != nil {
		t.Fatalf("go send of %d bytes: %v", len(data), err)
	}
	ev := p.WaitEvent(t, 60*time.Second, javapeer.MessageWithSHA(javapeer.SHA256Hex(data)))
	if ev.Size != len(data) {
		t.Fatalf("java delivered %d bytes, want %d", ev.Size, len(data))
	}
	return ev
}

// javaToGo has the Java peer send count messages of size bytes and checks that Go
// delivers exactly them, in order.
func javaToGo(t *testing.T, p *javapeer.Peer, g *goNode, count, size int, opts int, prefix string) []*channel.Message {
	t.Helper()
	res, err := p.Send(ctxFor(t, 120*time.Second), []string{g.member()}, count, size, opts, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != count || res.Failed != 0 {
		t.Fatalf("java send result %+v", res)
	}
	var out []*channel.Message
	for i := range count {
		m := g.next(t, 60*time.Second)
		want := javapeer.Content(size, i, prefix)
		if len(m.Data) != len(want) || javapeer.SHA256Hex(m.Data) != javapeer.SHA256Hex(want) {
			t.Fatalf("message %d: %d bytes differ from Java's %d", i, len(m.Data), len(want))
		}
		out = append(out, m)
	}
	return out
}

// javaToGoUnordered is javaToGo for stacks that may deliver in another order.
func javaToGoUnordered(t *testing.T, p *javapeer.Peer, g *goNode, count, size int, opts int, prefix string) {
	t.Helper()
	res, err := p.Send(ctxFor(t, 120*time.Second), []string{g.member()}, count, size, opts, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != count || res.Failed != 0 {
		t.Fatalf("java send result %+v", res)
	}
	want := map[string]int{}
	for i := range count {
		want[javapeer.SHA256Hex(javapeer.Content(size, i, prefix))]++
	}
	for range count {
		m := g.next(t, 60*time.Second)
		sha := javapeer.SHA256Hex(m.Data)
		if want[sha] == 0 {
			t.Fatalf("unexpected or duplicate message of %d bytes", len(m.Data))
		}
		want[sha]--
	}
}

// randomPort returns a port in [lo, lo+span) for a listener or a multicast group.
func randomPort(lo, span int) int { return lo + rand.IntN(span) }

// lockedList is a goroutine-safe list.
type lockedList[T any] struct {
	mu sync.Mutex
	l  []T
}

func (l *lockedList[T]) add(v T) {
	l.mu.Lock()
	l.l = append(l.l, v)
	l.mu.Unlock()
}

func (l *lockedList[T]) get() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.l)
}
