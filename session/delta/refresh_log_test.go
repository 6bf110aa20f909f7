package delta_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// lineCounter is a slog.Handler that counts the records it gets by message.
type lineCounter struct {
	mu    sync.Mutex
	lines map[string]int
}

func (c *lineCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *lineCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *lineCounter) WithGroup(string) slog.Handler            { return c }
func (c *lineCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines[r.Message]++
	return nil
}

// count returns the records whose message starts with prefix.
func (c *lineCounter) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for msg, k := range c.lines {
		if strings.HasPrefix(msg, prefix) {
			n += k
		}
	}
	return n
}

// A member that lists this node sends it stale pings in a loop, each naming a member in
// view with a lower id that lists this node, and each past the wait after the check that
// ended the cut before (cutHoldOff, here 0: as one ping every 10 s does over a day): each
// stands the node down, which loses the quorum and refreshes its copies when the check
// ends the cut. The stand-downs' own lines are rate-limited, but the quorum's were not:
// "lost the quorum", "the quorum is back" and "sessions refreshed" were each logged once
// per ping. They are rate-limited now (the first lines, then a count), while every
// ping still stands the node down and refreshes it.
func TestRepeatedStandDownsQuorumLogBounded(t *testing.T) {
	defer delta.SetCutExpiry(time.Minute)()
	defer delta.SetCutHoldOff(0)()
	lines := &lineCounter{lines: map[string]int{}}
	p := newPinger(t, slog.New(lines))
	cuts, refreshes := p.a.cl.Stats().PartialCuts, p.a.m.Stats().QuorumRefreshes
	const pings = 20
	for i := range pings {
		c := p.checks.Load()
		p.ping(t)
		testutil.EventuallyTrue(t, 10*time.Second, fmt.Sprintf("ping %d's check answered and a serving again", i), func() bool {
			return p.checks.Load() > c && p.a.m.Refusing() == nil && p.a.m.Stats().QuorumRefreshes-refreshes > uint64(i)
		})
	}
	if n := p.a.cl.Stats().PartialCuts - cuts; n != pings {
		t.Fatalf("%d stale pings past the hold-off stood a down %d times, want %d", pings, n, pings)
	}
	for _, prefix := range []string{"delta: lost the quorum", "delta: the quorum is back", "delta: sessions refreshed"} {
		if n := lines.count(prefix); n > 4 {
			t.Errorf("%d stand-downs wrote %q %d times, want at most 4 (the first lines, then a count)", pings, prefix, n)
		}
	}
}

// refusedRefresh starts j, a node whose only member, a raw peer, refuses the refresh's
// request (FAIL_ACK) refusals times after a partition healed, then answers it; j logs to
// lines. It returns once j's refresh ended.
func refusedRefresh(t *testing.T, refusals int32, lines *lineCounter) *node {
	t.Helper()
	nw := channeltest.NewNetwork()
	var asks atomic.Int32
	peer := &raw{}
	peer.tn, peer.ch = newChannel(t, nw)
	peer.ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		if m, err := peer.codec.DecodeMessage(msg.Data); err == nil && m.Event == delta.EventGetAllSessions {
			if n := asks.Add(1); n >= 2 && n < 2+refusals {
				return errors.New("not listing the sender yet") // FAIL_ACK
			}
		}
		return nil
	}))
	j, T := healedAfterTransferWith(t, nw, peer, asks.Load, delta.Config{Logger: slog.New(lines)})
	testutil.EventuallyTrue(t, 20*time.Second, "the refresh's requests after the refusals", func() bool {
		return asks.Load() == 2+refusals
	})
	transferFrom(t, peer, j, T+1, repairState(T, "S.p", 2, "v2"))
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool { return j.m.Stats().QuorumRefreshes == 1 })
	return j
}

// A member that keeps refusing a refresh's request (FAIL_ACK: it does not list the node
// yet, or says so over and over) is asked again every 250 ms until the quorum's worth of
// members gave their sessions; each refusal was logged ("a member did not give its
// sessions for the refresh"), four lines a second for as long as it went on. They go
// through the manager's limiter now: the first is logged, then a count, and the refresh
// still ends once the member answers.
func TestRefreshRefusalsLogBounded(t *testing.T) {
	const refusals = 16
	lines := &lineCounter{lines: map[string]int{}}
	refusedRefresh(t, refusals, lines)
	n := lines.count("delta: a member did not give its sessions for the refresh")
	if n < 1 || n > 4 {
		t.Errorf("%d refusals of the refresh's request wrote %d lines, want 1 to 4 (the first lines, then a count)",
			refusals, n)
	}
}

// The lines a manager's limiter counted instead of writing (a refresh's refusals, the
// quorum's lines, the transfers served) are summarised at Stop, as the cluster's are at
// Close: before, the count was written only at the next such line past the limiter's
// minute, and never once they stopped, so that the log showed three refusals of sixteen.
func TestManagerStopSummarisesCountedLines(t *testing.T) {
	lines := &lineCounter{lines: map[string]int{}}
	j := refusedRefresh(t, 16, lines)
	if n := lines.count("repeated error lines were not logged"); n != 0 {
		t.Fatalf("%d summaries before Stop, want 0 (the limiter's minute has not passed)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := lines.count("repeated error lines were not logged"); n != 1 {
		t.Errorf("Stop wrote %d summaries of the counted refusals, want 1", n)
	}
}

// A refresh whose queue of waiting messages overflows asks every member again, and
// logged each time at Warn ("too many messages arrived during the refresh") without a
// limit: a member that keeps sending more than the queue holds while the refresh waits
// wrote a line per round for as long as it went on (12 rounds, 12 lines). The line goes
// through the manager's limiter now (the first lines, then a count), and the refresh
// still ends, with the last value, once a round passes without an overflow.
func TestRefreshQueueOverflowLogBounded(t *testing.T) {
	const rounds, bound = 12, 4
	defer delta.SetMaxRefreshQueue(bound)()
	lines := &lineCounter{lines: map[string]int{}}
	nw := channeltest.NewNetwork()
	peer, asked := newCounter(t, nw)
	j, T := healedAfterTransferWith(t, nw, peer, asked.Load, delta.Config{Logger: slog.New(lines)})
	jm := j.ch.LocalMember()
	v := uint64(1)
	for r := range rounds {
		testutil.EventuallyTrue(t, 10*time.Second, fmt.Sprint("the refresh's request ", r+1), func() bool {
			return asked.Load() == int32(2+r)
		})
		for range bound + 1 {
			v++
			peer.send(t, jm, repairSet(repairMsg(delta.EventDelta, "S.p", T+int64(v)), v, fmt.Sprint("v", v)))
		}
		transferFrom(t, peer, j, T, repairState(T, "S.p", v, fmt.Sprint("v", v)))
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's last request", func() bool {
		return asked.Load() == 2+rounds
	})
	transferFrom(t, peer, j, T, repairState(T, "S.p", v, fmt.Sprint("v", v)))
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool { return j.m.Stats().QuorumRefreshes == 1 })
	if got, st := valueK(j.m, "S.p"), j.m.Stats(); got != fmt.Sprint("v", v) || st.RefreshQueueOverflows < rounds {
		t.Errorf("after the refresh k = %v (want v%d), overflows %d (want at least %d)", got, v, st.RefreshQueueOverflows, rounds)
	}
	n := lines.count("delta: too many messages arrived during the refresh")
	if n < 1 || n > 4 {
		t.Errorf("%d overflows of the refresh's queue wrote %d lines, want 1 to 4 (the first lines, then a count)",
			rounds, n)
	}
}
