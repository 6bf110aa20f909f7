package delta_test

import (
	"sort"
	"testing"
	"time"
)

// overlapBin is the span over which overlap compares the two processes' CPU time, and
// overlapBusy how much CPU time a process must use in a bin to count as running then.
const (
	overlapBin  = 10 * time.Millisecond
	overlapBusy = 2 * time.Millisecond
)

// overlap counts, over the bins (overlapBin) of the transfers, those in which the donor,
// the joiner and both ran. If the two ran independently of each other, both-busy-% would
// be about donor-busy-% × joiner-busy-%; far below that, they took turns.
type overlap struct{ bins, donor, joiner, both int }

// add counts the bins from start to end (Unix ns) given each process's CPU timeline.
func (o *overlap) add(start, end int64, donor, joiner [][2]int64) {
	for t := start; t+int64(overlapBin) <= end; t += int64(overlapBin) {
		u := t + int64(overlapBin)
		d := cpuAt(donor, u)-cpuAt(donor, t) >= int64(overlapBusy)
		j := cpuAt(joiner, u)-cpuAt(joiner, t) >= int64(overlapBusy)
		o.bins++
		if d {
			o.donor++
		}
		if j {
			o.joiner++
		}
		if d && j {
			o.both++
		}
	}
}

func (o *overlap) report(b *testing.B) {
	if o.bins == 0 {
		return
	}
	pct := func(n int) float64 { return 100 * float64(n) / float64(o.bins) }
	b.ReportMetric(pct(o.donor), "donor-busy-%")
	b.ReportMetric(pct(o.joiner), "joiner-busy-%")
	b.ReportMetric(pct(o.both), "both-busy-%")
}

// cpuAt interpolates a CPU timeline ([Unix ns, CPU ns] pairs in time order) at t.
func cpuAt(tl [][2]int64, t int64) int64 {
	i := sort.Search(len(tl), func(i int) bool { return tl[i][0] >= t })
	switch {
	case len(tl) == 0:
		return 0
	case i == 0:
		return tl[0][1]
	case i == len(tl):
		return tl[len(tl)-1][1]
	}
	a, z := tl[i-1], tl[i]
	if z[0] == a[0] {
		return z[1]
	}
	return a[1] + (z[1]-a[1])*(t-a[0])/(z[0]-a[0])
}
