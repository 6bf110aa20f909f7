package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress redraws one status line with a bar (schollz/progressbar) on a terminal, every
// progressInterval. The bar shows the larger of the fractions done by count and by time,
// since a run ends at whichever limit comes first; the text after it counts messages.
type progress struct {
	bar    *progressbar.ProgressBar
	count  int64         // planned messages (0: no count limit)
	limit  time.Duration // time limit (0: none)
	start  time.Time
	sample func() (done, failed int64) // done counts the failed ones too
}

const (
	progressInterval = 100 * time.Millisecond
	progressSteps    = 1000 // the bar's maximum: it counts thousandths of the run
)

func newProgress(w io.Writer, count int64, limit time.Duration, sample func() (done, failed int64)) *progress {
	return &progress{
		bar: progressbar.NewOptions64(progressSteps, progressbar.OptionSetWriter(w), progressbar.OptionSetWidth(40),
			progressbar.OptionSetTheme(progressbar.Theme{Saucer: "#", SaucerPadding: ".", BarStart: "[", BarEnd: "]"}),
			progressbar.OptionSetPredictTime(false), progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionUseANSICodes(true)),
		count: count, limit: limit, start: time.Now(), sample: sample,
	}
}

// startProgress starts redrawing the line on w, which must be a terminal, until the
// returned function is called; that function draws the line a last time, with a full bar
// if the run reached its limit (complete) rather than being interrupted, and ends it with
// a newline.
func startProgress(w io.Writer, count int64, limit time.Duration, sample func() (done, failed int64)) (finish func(complete bool)) {
	p := newProgress(w, count, limit, sample)
	stop := make(chan struct{})
	var finished sync.WaitGroup
	finished.Go(func() {
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			p.draw(false, false)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	var once sync.Once
	return func(complete bool) {
		once.Do(func() {
			close(stop)
			finished.Wait()
			p.draw(true, complete)
			fmt.Fprintln(w)
		})
	}
}

// draw updates the bar and its text. The bar stops short of its end until last: once
// full, progressbar draws it no more. A complete run's last bar is full: the time limit
// is measured by the run's own timer, which may fire a moment before this clock's.
func (p *progress) draw(last, complete bool) {
	done, failed := p.sample()
	el := time.Since(p.start)
	frac := 0.0
	if p.count > 0 {
		frac = float64(done) / float64(p.count)
	}
	if p.limit > 0 {
		frac = max(frac, el.Seconds()/p.limit.Seconds())
	}
	steps := int64(min(max(frac, 0), 1) * progressSteps)
	if !last {
		steps = min(steps, progressSteps-1)
	} else if complete {
		steps = progressSteps
	}
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(done-failed) / s
	}
	total := "?"
	if p.count > 0 {
		total = fmt.Sprint(p.count)
	}
	// Describe draws; Set64 draws again if the percentage changed (and a full bar for
	// the last time, so the text goes first).
	p.bar.Describe(fmt.Sprintf("%d/%s  %.0f msgs/s  %d failed  %.1f s", done, total, rate, failed, el.Seconds()))
	_ = p.bar.Set64(steps)
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

// isTerminal reports whether w is a terminal. Only then do the load commands draw a
// progress bar and node speak text: output to a pipe or a file stays free of carriage
// returns.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
