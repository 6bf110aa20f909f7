package nio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ratelog"
)

// With EngineGnet, stops of the engine that come and go (a stranger churning connections
// at the receiver's RLIMIT_NOFILE makes them at will) are logged a few lines a minute,
// then counted, as EngineGoroutine's exhaustion runs are (TestAcceptExhaustionRunsLogBounded):
// a stop whose line was written has its restart line too, so the last line logged is
// the receiver listening again, failures to listen again are logged only for a stop that
// was, and what was counted is written when the receiver stops. Every stop is still
// counted and reported. Before, each stop wrote its failure and restart lines (2 for each
// of the 6 stops here) and every failure to listen again its own; then the failures to
// listen again of a stop not logged were neither written nor counted (no
// engine-restart-failed count at Stop), and then neither were the restarts of those stops
// (no engine-restarted count at Stop). The test stops gnet's engine itself, as gnet does
// when accept fails with EMFILE; the first and the last stops' restarts fail to listen
// twice each (restartBootErr).
func TestGnetRestartLogBounded(t *testing.T) {
	if !slices.Contains(Engines(), EngineGnet) {
		t.Skip("EngineGnet does not run on this system")
	}
	var bootFails atomic.Int32
	restartBootErr = func() error {
		if bootFails.Add(-1) >= 0 {
			return errors.New("test: cannot listen")
		}
		return nil
	}
	t.Cleanup(func() { restartBootErr = nil }) // after the transport's Stop (cleanups run last first)
	tr, n, logBuf, reports := startReporting(t, EngineGnet)
	const runs = 6
	for i := range runs {
		if i == 0 || i == runs-1 {
			bootFails.Store(2) // the first stop's restart, and the last's (not logged), fail to listen twice
		}
		r := tr.rcv
		r.emu.Lock()
		eng := r.eng
		r.emu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // only triggers the stop, as shutdown does
		_ = eng.Stop(ctx)
		expectHealthReport(t, reports, true)
		expectHealthReport(t, reports, false)
		ackedHello(t, n) // served by the restarted engine
	}
	if st := tr.Stats(); st.ReceiverFailures != runs || st.ReceiverRestarts != runs {
		t.Fatalf("stats: %d failures, %d restarts; want %d each", st.ReceiverFailures, st.ReceiverRestarts, runs)
	}
	out := logBuf.String()
	const failLine, retryLine, upLine = "stopped by itself", "cannot listen again yet", "listening again"
	failures, recoveries := strings.Count(out, failLine), strings.Count(out, upLine)
	if failures == 0 || failures > ratelog.DefaultFirst || recoveries != failures {
		t.Fatalf("%d stop and %d restart lines for %d stops, want 1 to %d stop lines, each with its restart:\n%s",
			failures, recoveries, runs, ratelog.DefaultFirst, out)
	}
	if retries := strings.Count(out, retryLine); retries != 2 {
		t.Fatalf("%d lines for the first restart's 2 failures to listen, want 2:\n%s", retries, out)
	}
	if strings.LastIndex(out, upLine) < strings.LastIndex(out, failLine) {
		t.Fatalf("the last line of the receiver's state says it stopped, after it listens again:\n%s", out)
	}
	if err := tr.Stop(context.Background(), channel.SvcTransport); err != nil {
		t.Fatal(err)
	}
	out = logBuf.String()
	if want := fmt.Sprintf("kind=engine-stopped suppressed=%d", runs-failures); !strings.Contains(out, want) {
		t.Fatalf("no %q written at Stop for the stops not logged:\n%s", want, out)
	}
	if want := "kind=engine-restart-failed suppressed=2"; !strings.Contains(out, want) {
		t.Fatalf("no %q written at Stop for the last stop's failures to listen again, not logged:\n%s", want, out)
	}
	if want := fmt.Sprintf("kind=engine-restarted suppressed=%d", runs-failures); !strings.Contains(out, want) {
		t.Fatalf("no %q written at Stop for the restarts of the stops not logged:\n%s", want, out)
	}
}

// gnet's own warnings and errors (it writes several for each stop of its engine: the
// accept error, the reactor and each event loop exiting) are rate-limited per format when
// the receiver gives its limiter: a few lines a minute, then counted; its Info chatter,
// logged at Debug, is not. Before, every line was written.
func TestGnetLoggerRateLimited(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rl := ratelog.New(ratelog.Config{Logger: l})
	g := gnetLogger{l: l, rl: rl}
	const n = 10
	for i := range n {
		g.Errorf("event-loop(%d) is exiting due to error: %v", i, "too many open files")
		g.Warnf("received event[fd=%d] of a stale connection", i)
		g.Infof("Launching gnet with %d event-loops", i)
	}
	out := buf.String()
	for _, c := range []struct {
		line string
		want int
	}{
		{"is exiting due to error", ratelog.DefaultFirst},
		{"of a stale connection", ratelog.DefaultFirst},
		{"Launching gnet", n},
	} {
		if got := strings.Count(out, c.line); got != c.want {
			t.Fatalf("%d lines %q of %d, want %d:\n%s", got, c.line, n, c.want, out)
		}
	}
	if !strings.Contains(out, "component=gnet") || !strings.Contains(out, "event-loop(0) is exiting due to error: too many open files") {
		t.Fatalf("gnet's line not written whole:\n%s", out)
	}
	buf.Reset()
	rl.Flush()
	if got := strings.Count(buf.String(), fmt.Sprintf("suppressed=%d", n-ratelog.DefaultFirst)); got != 2 {
		t.Fatalf("Flush wrote %d counts of %d lines, want 2 (one a format):\n%s", got, n-ratelog.DefaultFirst, buf.String())
	}
}
