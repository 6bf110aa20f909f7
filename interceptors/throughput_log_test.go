package interceptors

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// reports returns the throughput reports in a text log, each checked to be at Info.
func (l *syncLog) reports(t *testing.T) int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for line := range strings.Lines(l.b.String()) {
		if !strings.Contains(line, "tribes throughput") {
			continue
		}
		n++
		if !strings.Contains(line, "level=INFO") {
			t.Errorf("throughput report not at Info: %s", line)
		}
	}
	return n
}

// TestThroughputReportsEveryInterval: docs/operations.md (Logs) and interceptors.md say the
// throughput interceptor reports its statistics at Info every Interval messages, sent and
// received. With Interval 4, ten messages from a to b make two reports on each side (at
// the fourth and the eighth), none for the last two.
func TestThroughputReportsEveryInterval(t *testing.T) {
	var logA, logB syncLog
	logger := func(l *syncLog) *slog.Logger {
		return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ta := must(NewThroughput(ThroughputConfig{Interval: 4, Logger: logger(&logA)}))
	tb := must(NewThroughput(ThroughputConfig{Interval: 4, Logger: logger(&logB)}))
	nw := channeltest.NewNetwork()
	a, b := newNode(t, nw, ta), newNode(t, nw, tb)
	startNodes(t, a, b)
	for range 10 {
		if err := a.ch.Send(t.Context(), []channel.Member{b.member()}, []byte("x"), channel.OptUseAck); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "b received the ten", func() bool { return tb.Stats().MessagesRx == 10 })
	if n := logA.reports(t); n != 2 {
		t.Errorf("sender: %d throughput reports for 10 messages at Interval 4, want 2", n)
	}
	if n := logB.reports(t); n != 2 {
		t.Errorf("receiver: %d throughput reports for 10 messages at Interval 4, want 2", n)
	}
}
