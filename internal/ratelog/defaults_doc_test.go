package ratelog

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// With the defaults, as docs/security.md gives them, a kind of line has a budget of 60
// lines a minute across all peers (DefaultMaxPerKind, DefaultInterval): 1 000 peers' first
// lines of one kind write 60 of them in a minute, and 60 more in the next one.
func TestDefaultKindBudgetSixtyAMinute(t *testing.T) {
	l, buf, c := newTest(t, Config{})
	for i := range 1000 {
		l.Log(slog.LevelWarn, fmt.Sprint("peer-", i), "k", "m")
	}
	if n := len(lines(buf)); n != 60 || l.Suppressed() != 940 {
		t.Fatalf("%d lines, %d suppressed for 1 000 peers' first lines, want 60 and 940", n, l.Suppressed())
	}
	buf.Reset()
	c.add(59 * time.Second)
	if l.Log(slog.LevelWarn, "peer-1000", "k", "m") {
		t.Fatal("a 61st line within the minute")
	}
	c.add(time.Second)
	for i := range 1000 {
		l.Log(slog.LevelWarn, fmt.Sprint("new-", i), "k", "m")
	}
	// The next minute's budget: 60 lines, after the summary of the 941 kept back before.
	got := lines(buf)
	var kept int
	for _, s := range got {
		if strings.Contains(s, "peer=new-") {
			kept++
		}
	}
	if kept != 60 || len(got) != 61 || !strings.Contains(got[0], "suppressed=941") {
		t.Fatalf("%d lines of the next minute's peers in %d, want 60 after a summary of 941: %q", kept, len(got), got[:min(3, len(got))])
	}
}
