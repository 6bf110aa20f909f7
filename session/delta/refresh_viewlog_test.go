package delta_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// peerLines is a slog.Handler that keeps the "peer" of each record whose message starts
// with prefix.
type peerLines struct {
	prefix string
	mu     sync.Mutex
	peers  []string
}

func (p *peerLines) Enabled(context.Context, slog.Level) bool { return true }
func (p *peerLines) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *peerLines) WithGroup(string) slog.Handler            { return p }
func (p *peerLines) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, p.prefix) {
		return nil
	}
	peer := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "peer" {
			peer = a.Value.String()
		}
		return true
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peers = append(p.peers, peer)
	return nil
}

func (p *peerLines) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.peers)
}

// TestViewLossesLoggedPerMember: every loss of the quorum for a view below it was
// rate-limited under one key, "(view)", so that a member that left the view over and over
// (4 times) used up its first lines, and the loss another member caused afterwards was
// only counted: the log did not show that member at all. Each loss is keyed by the member
// whose departure caused it now ("(view) " and its address; the limiter tracks at most its
// MaxKeys pairs), so both members' losses are logged, the flapping one's still bounded.
func TestViewLossesLoggedPerMember(t *testing.T) {
	nw := channeltest.NewNetwork()
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	c := startReady(t, nw, delta.Config{JvmRoute: "c"})
	lost := &peerLines{prefix: "delta: lost the quorum"}
	// ClusterSize 5: a needs 2 members, b and c; either leaving loses the quorum.
	a := startReady(t, nw, delta.Config{JvmRoute: "a", ClusterSize: 5, Replication: delta.ReplicateAcked, Logger: slog.New(lost)})
	flap := func(n *node) {
		t.Helper()
		refreshes := a.m.Stats().QuorumRefreshes
		nw.Partition(a.tn, n.tn)
		testutil.EventuallyTrue(t, 10*time.Second, "the member gone from a's view", func() bool {
			return len(a.ch.Members()) == 1
		})
		nw.Heal(a.tn, n.tn)
		// A refresh starts only after a loss of the quorum: its end says a noted the loss.
		testutil.EventuallyTrue(t, 10*time.Second, "a's refresh after the quorum came back", func() bool {
			return a.m.Stats().QuorumRefreshes > refreshes && a.m.Refusing() == nil
		})
	}
	// a may have started without the quorum (one member listed yet) and refreshed once
	// it had it: the lines of that are not the flaps'.
	testutil.EventuallyTrue(t, 10*time.Second, "a with the quorum", func() bool {
		return len(a.ch.Members()) == 2 && a.m.Refusing() == nil
	})
	before := len(lost.lines())
	const flaps = 4
	for range flaps {
		flap(b)
	}
	flap(c)
	got := lost.lines()[before:]
	byB := "(view) " + b.tn.Member().Addr()
	byC := "(view) " + c.tn.Member().Addr()
	count := func(peer string) int {
		return len(slices.DeleteFunc(slices.Clone(got), func(p string) bool { return p != peer }))
	}
	if n := count(byB); n < 1 || n >= flaps {
		t.Errorf("b's %d losses wrote %d lines under %q, want 1 to %d (the first lines, then a count); lines: %q",
			flaps, n, byB, flaps-1, got)
	}
	if n := count(byC); n != 1 {
		t.Errorf("c's loss wrote %d lines under %q, want 1; lines: %q", n, byC, got)
	}
	if len(got) != count(byB)+count(byC) {
		t.Errorf("lines under other keys: %q", got)
	}
}
