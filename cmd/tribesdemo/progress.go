package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// terminalWidth returns the width of w if w is a terminal, and whether it is one. Only
// then do the load commands draw a progress bar: output to a pipe or a file stays free of
// carriage returns.
func terminalWidth(w io.Writer) (int, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, false
	}
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return 0, false
	}
	if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
		return int(ws.Col), true
	}
	return 80, true
}

// progress redraws one status line with a bar on a terminal, at most every interval.
// The bar shows the larger of the fractions done by count and by time, since a run ends
// at whichever limit comes first.
type progress struct {
	w        io.Writer
	width    int
	count    int64         // planned messages (0: no count limit)
	limit    time.Duration // time limit (0: none)
	start    time.Time
	sample   func() (done, failed int64) // done counts the failed ones too
	stop     chan struct{}
	finished sync.WaitGroup
}

const progressInterval = 100 * time.Millisecond

// startProgress starts redrawing the line on w, which must be a terminal of the given
// width, until the returned function is called; that function draws the line a last time
// and ends it with a newline.
func startProgress(w io.Writer, width int, count int64, limit time.Duration, sample func() (done, failed int64)) (finish func()) {
	p := &progress{w: w, width: width, count: count, limit: limit, start: time.Now(), sample: sample, stop: make(chan struct{})}
	p.finished.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			p.draw()
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(p.stop)
			p.finished.Wait()
			p.draw()
			fmt.Fprintln(p.w)
		})
	}
}

func (p *progress) draw() {
	done, failed := p.sample()
	el := time.Since(p.start)
	frac := 0.0
	if p.count > 0 {
		frac = float64(done) / float64(p.count)
	}
	if p.limit > 0 {
		frac = max(frac, el.Seconds()/p.limit.Seconds())
	}
	frac = min(max(frac, 0), 1)
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(done-failed) / s
	}
	total := "?"
	if p.count > 0 {
		total = fmt.Sprint(p.count)
	}
	status := fmt.Sprintf(" %3.0f%% %d/%s  %.0f msgs/s  %d failed  %.1f s", frac*100, done, total, rate, failed, el.Seconds())
	barWidth := min(p.width-len(status)-3, 40)
	var line string
	if barWidth >= 10 {
		filled := int(math.Round(frac * float64(barWidth)))
		line = "[" + strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled) + "]" + status
	} else {
		line = strings.TrimSpace(status)
	}
	if len(line) >= p.width {
		line = line[:max(p.width-1, 0)]
	}
	// \r to the line start, the line, then clear what a longer previous line left.
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
}

// latencies collects per-message durations, keeping at most max of them for the
// percentiles (the first ones) while counting and tracking the maximum of all.
type latencies struct {
	mu   sync.Mutex
	d    []time.Duration
	max  time.Duration
	n    int64
	keep int
}

func newLatencies(expected, keep int) *latencies {
	return &latencies{d: make([]time.Duration, 0, min(max(expected, 0), keep)), keep: keep}
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.max = max(l.max, d)
	if len(l.d) < l.keep {
		l.d = append(l.d, d)
	}
}

// summary holds latency percentiles.
type summary struct {
	P50, P90, P99, Max, Mean time.Duration
	N                        int64
}

func (l *latencies) summary() summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := summary{Max: l.max, N: l.n}
	if len(l.d) == 0 {
		return s
	}
	d := slices.Clone(l.d)
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	s.Mean = sum / time.Duration(len(d))
	s.P50, s.P90, s.P99 = percentile(d, 50), percentile(d, 90), percentile(d, 99)
	return s
}

// percentile is the nearest-rank percentile p (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// fmtDur prints a latency with a unit that suits it: 85 µs, 1.25 ms, 2.10 s.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// waitMembers waits until count() reaches n, ctx ends or limit passes, and reports
// whether it got there.
func waitMembers(ctx context.Context, count func() int, n int, limit time.Duration) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for count() < n {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-t.C:
		}
	}
	return true
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	_, ok := terminalWidth(w)
	return ok
}
