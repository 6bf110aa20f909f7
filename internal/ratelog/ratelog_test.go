package ratelog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest(t *testing.T, cfg Config) (*Limiter, *bytes.Buffer, *clock) {
	t.Helper()
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	cfg.Now = c.now
	return New(cfg), &buf, c
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestFirstLinesThenCountThenSummary(t *testing.T) {
	l, buf, c := newTest(t, Config{First: 2, Interval: time.Minute})
	written := 0
	for range 1000 {
		if l.Log(slog.LevelWarn, "10.0.0.1:4000", "bad frame", "garbage", "n", 1) {
			written++
		}
	}
	if written != 2 || len(lines(buf)) != 2 || l.Suppressed() != 998 {
		t.Fatalf("written %d, lines %d, suppressed %d", written, len(lines(buf)), l.Suppressed())
	}
	if !strings.Contains(lines(buf)[1], "further=") {
		t.Errorf("the last line written does not say the rest is counted: %s", lines(buf)[1])
	}
	// Another peer, and another kind of the same peer, have their own budgets.
	if !l.Log(slog.LevelWarn, "10.0.0.2:4000", "bad frame", "garbage") || !l.Log(slog.LevelWarn, "10.0.0.1:4000", "other", "x") {
		t.Fatal("a separate (peer, kind) was suppressed")
	}
	buf.Reset()
	c.add(time.Minute)
	if !l.Log(slog.LevelWarn, "10.0.0.1:4000", "bad frame", "garbage") {
		t.Fatal("a new interval did not write")
	}
	got := lines(buf)
	if len(got) != 2 || !strings.Contains(got[0], "suppressed=998") || !strings.Contains(got[0], "kind=\"bad frame\"") {
		t.Fatalf("summary lines %q", got)
	}
}

func TestFlush(t *testing.T) {
	l, buf, _ := newTest(t, Config{First: 1})
	for range 5 {
		l.Log(slog.LevelError, "p", "k", "m")
	}
	buf.Reset()
	l.Flush()
	if got := lines(buf); len(got) != 1 || !strings.Contains(got[0], "suppressed=4") {
		t.Fatalf("flush wrote %q", got)
	}
	buf.Reset()
	l.Flush()
	if buf.Len() != 0 {
		t.Fatalf("second flush wrote %q", buf.String())
	}
}

// Many peers cannot grow the table past MaxKeys, nor the log past First lines per kind
// for the peers beyond it.
func TestKeysBounded(t *testing.T) {
	l, buf, _ := newTest(t, Config{First: 1, MaxKeys: 10})
	for i := range 10000 {
		l.Log(slog.LevelWarn, fmt.Sprint("peer-", i), "k", "m")
	}
	if n := len(l.entries); n != 11 { // 10 peers and the shared entry
		t.Fatalf("%d keys tracked", n)
	}
	if n := len(lines(buf)); n != 11 {
		t.Fatalf("%d lines for 10000 peers (10 own keys and one shared)", n)
	}
}

func TestConcurrent(t *testing.T) {
	l, buf, _ := newTest(t, Config{First: 3})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				l.Log(slog.LevelWarn, "p", "k", "m")
			}
		})
	}
	wg.Wait()
	if len(lines(buf)) != 3 || l.Suppressed() != 8*500-3 {
		t.Fatalf("lines %d suppressed %d", len(lines(buf)), l.Suppressed())
	}
}

// Peers that each write their first lines cannot, together, write more than MaxPerKind
// lines of one kind per interval; what was kept back is summarised under "(all peers)".
func TestKindBounded(t *testing.T) {
	l, buf, c := newTest(t, Config{First: 3, MaxPerKind: 5})
	for i := range 100 {
		l.Log(slog.LevelWarn, fmt.Sprint("peer-", i), "k", "m")
	}
	if n := len(lines(buf)); n != 5 || l.Suppressed() != 95 {
		t.Fatalf("%d lines, %d suppressed for 100 peers' first lines (MaxPerKind 5)", n, l.Suppressed())
	}
	if !l.Log(slog.LevelWarn, "p", "other", "m") {
		t.Fatal("another kind was kept back")
	}
	buf.Reset()
	c.add(time.Minute)
	l.Log(slog.LevelWarn, "peer-0", "k", "m")
	got := lines(buf)
	if len(got) != 2 || !strings.Contains(got[0], "suppressed=95") || !strings.Contains(got[0], `peer="(all peers)"`) {
		t.Fatalf("lines after the interval: %q", got)
	}
}

// Count counts a line without writing it, even with budget left, and what it counted is
// summarised as Log's lines are: when (peer, kind) recurs after the interval, and by
// Flush. It takes none of the budget: Log still writes First lines after it.
func TestCount(t *testing.T) {
	l, buf, c := newTest(t, Config{First: 2})
	for range 3 {
		l.Count(slog.LevelWarn, "p", "k")
	}
	if buf.Len() != 0 || l.Suppressed() != 3 {
		t.Fatalf("Count wrote %q, %d suppressed; want nothing written, 3 counted", buf.String(), l.Suppressed())
	}
	if !l.Log(slog.LevelWarn, "p", "k", "m") || !l.Log(slog.LevelWarn, "p", "k", "m") || l.Log(slog.LevelWarn, "p", "k", "m") {
		t.Fatal("Log did not write First lines after Count, then count")
	}
	buf.Reset()
	c.add(time.Minute)
	l.Count(slog.LevelWarn, "p", "k")
	if got := lines(buf); len(got) != 1 || !strings.Contains(got[0], "suppressed=4") {
		t.Fatalf("the summary due when Count came after the interval: %q", got)
	}
	buf.Reset()
	l.Flush()
	if got := lines(buf); len(got) != 1 || !strings.Contains(got[0], "suppressed=1") || !strings.Contains(got[0], "kind=k") {
		t.Fatalf("Flush wrote %q, want the count of the line Count counted in the new interval", got)
	}
}
