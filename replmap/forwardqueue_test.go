package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// removesTo holds, or fails, the MSG_REMOVEs sent to one member once armed: held is
// closed when the first one arrives, and each waits until release is closed; with fail
// set they fail at once instead.
type removesTo struct {
	channel.InterceptorBase
	target        atomic.Pointer[channel.Member]
	fail          bool
	once          sync.Once
	held, release chan struct{}
}

func (r *removesTo) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if t := r.target.Load(); t != nil && replmap.MessageType(msg.Data) == msgRemoveType &&
		len(to) == 1 && to[0].Key() == t.Key() {
		if r.fail {
			return errors.New("test: send refused")
		}
		r.once.Do(func() { close(r.held) })
		select {
		case <-r.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.Next().SendMessage(ctx, to, msg)
}

// backedUpBy puts keys on a until one is backed up by each of nodes, and returns them in
// the order of nodes.
func backedUpBy(t *testing.T, a *node, nodes ...*node) []string {
	t.Helper()
	keys := make([]string, len(nodes))
	for i := 0; i < 8*len(nodes); i++ {
		k := fmt.Sprint("k", i)
		if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
			t.Fatal(err)
		}
		for j, n := range nodes {
			if keys[j] == "" && replmap.Held(n.m, k) == "v" {
				keys[j] = k
			}
		}
	}
	for j, k := range keys {
		if k == "" {
			t.Fatalf("no key of A's is backed up by node %d", j+1)
		}
	}
	return keys
}

var stranger = channel.Member{Host: []byte{127, 0, 0, 9}, Port: 4999, SecurePort: -1, UDPPort: -1}

// A primary dropped by another member's MSG_REMOVE forwards the removal to its backup
// node. Before, one goroutine sent every queued forward in turn: while a backup node's
// send blocked, no other key's forward went out. Now each backup node has its queue: B's
// send of k1's removal stays blocked while C gets k2's and drops its backup, and B gets
// its own once its send is released.
func TestForwardSlowBackupDoesNotDelayAnother(t *testing.T) {
	nw := channeltest.NewNetwork()
	block := &removesTo{held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(block.release) }) }
	a, b, c := newChannel(t, nw, block), newChannel(t, nw), newChannel(t, nw)
	nodes := []*node{a, b, c}
	for _, n := range nodes {
		waitChannelMembers(t, n, 2)
	}
	for _, n := range nodes {
		newMap(t, n, replmap.Config{})
	}
	for _, n := range nodes {
		start(t, n)
	}
	waitMapMembers(t, nodes, 2)
	t.Cleanup(release) // before the maps stop
	keys := backedUpBy(t, a, b, c)

	bm := b.ch.LocalMember()
	block.target.Store(&bm)
	if err := replmap.ReceiveRemove(a.m, stranger, keys[0]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-block.held:
	case <-ctx(t).Done():
		t.Fatal("A did not forward the removal of its primary to B")
	}
	if err := replmap.ReceiveRemove(a.m, stranger, keys[1]); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "C dropping its backup of A's removed key while B's forward blocks", func() bool {
		_, _, held := c.m.Peek(keys[1])
		return !held
	})
	if replmap.Held(b.m, keys[0]) != "v" {
		t.Fatal("B dropped its backup while A's forward to it was blocked")
	}
	release()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B dropping its backup once released", func() bool {
		_, _, held := b.m.Peek(keys[0])
		return !held
	})
}

// lineLog counts the log records whose message holds text.
type lineLog struct {
	text string
	n    atomic.Int64
}

func (l *lineLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *lineLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lineLog) WithGroup(string) slog.Handler            { return l }
func (l *lineLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, l.text) {
		l.n.Add(1)
	}
	return nil
}

// Forwarded removals whose send fails are counted in Stats.ForwardedRemovesFailed and
// logged rate-limited per backup node. Before, each failure wrote a log line (ten
// failures, ten lines: a flapping member could flood the log) and none was counted.
// Now ten failures to B count ten and write ratelog.DefaultFirst lines.
func TestForwardFailuresCountedAndRateLimited(t *testing.T) {
	const failures = 10
	nw := channeltest.NewNetwork()
	fail := &removesTo{fail: true}
	log := &lineLog{text: "removal of a primary not sent"}
	a, b := twoMaps(t, nw, replmap.Config{Logger: slog.New(log)}, replmap.Config{}, fail)
	var keys []string
	for i := range failures {
		k := fmt.Sprint("k", i)
		if _, err := a.m.Put(ctx(t), k, "v"); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	bm := b.ch.LocalMember()
	fail.target.Store(&bm)
	for _, k := range keys {
		if err := replmap.ReceiveRemove(a.m, stranger, k); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("%d failed forwards counted", failures), func() bool {
		return a.m.Stats().ForwardedRemovesFailed == failures
	})
	if n := log.n.Load(); n < 1 || n > ratelog.DefaultFirst {
		t.Fatalf("%d failed forwards logged %d lines, want 1 to %d", failures, n, ratelog.DefaultFirst)
	}
	if got := replmap.Held(b.m, keys[0]); got != "v" {
		t.Fatalf("B's backup of k0 = %#v after A's forward to it failed", got)
	}
	// The failure does not stick: released, the next forward reaches B.
	fail.target.Store(nil)
	if _, err := a.m.Put(ctx(t), "later", "v"); err != nil {
		t.Fatal(err)
	}
	if err := replmap.ReceiveRemove(a.m, stranger, "later"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B dropping its backup of later", func() bool {
		_, _, held := b.m.Peek("later")
		return !held
	})
	if got := a.m.Stats().ForwardedRemovesFailed; got != failures {
		t.Fatalf("ForwardedRemovesFailed = %d after a forward that went out, want %d", got, failures)
	}
}
