// Package declimits checks the two settings that bound a received message's size: a
// MaxMessageBytes and the MaxBytes of a jserial.DecoderConfig, which rpc.Config and
// replmap.Config both take, one being the other.
package declimits

import (
	"fmt"
	"math"

	"github.com/gotribes/tribes/jserial"
)

// MaxBytes checks maxMessageBytes and limits, the settings of the configuration named
// by config ("rpc.Config", "replmap.Config"), and returns the message size limit they set:
// maxMessageBytes, or limits.MaxBytes when that is 0 (0 when neither is set: the
// caller's default applies). It refuses a negative maxMessageBytes, negative limits,
// two different non-zero sizes, and a limits.MaxBytes beyond int; the errors name the
// settings, and the caller wraps them with its ErrInvalidConfig.
func MaxBytes(config string, maxMessageBytes int, limits jserial.DecoderConfig) (int, error) {
	switch {
	case maxMessageBytes < 0:
		return 0, fmt.Errorf("negative %s.MaxMessageBytes", config)
	case limits.Validate() != nil:
		return 0, fmt.Errorf("%s.Limits: %w", config, limits.Validate())
	case limits.MaxBytes != 0 && maxMessageBytes != 0 && limits.MaxBytes != int64(maxMessageBytes):
		return 0, fmt.Errorf("%s.Limits.MaxBytes %d and MaxMessageBytes %d differ", config, limits.MaxBytes, maxMessageBytes)
	case limits.MaxBytes > math.MaxInt:
		return 0, fmt.Errorf("%s.Limits.MaxBytes %d too large", config, limits.MaxBytes)
	case maxMessageBytes != 0:
		return maxMessageBytes, nil
	}
	return int(limits.MaxBytes), nil
}

// LongestFit returns the largest k in [0, n] for which fits(k) holds, fits being
// monotone (true up to some k, false beyond) and fits(0) taken as true without a call:
// a binary search, about log2(n) calls. FirstFit uses it.
func LongestFit(n int, fits func(k int) bool) int {
	if n <= 0 || fits(n) {
		return max(n, 0)
	}
	lo, hi := 0, n // fits(lo) (or lo is 0), !fits(hi)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// MaxFirstFitSearches bounds the searches of FirstFit's second part: the values still
// undecided after that many are left out.
const MaxFirstFitSearches = 16

// FirstFitWork is how much FirstFit's probes after its first search may encode, in
// encodings of the whole delta (the sum of sizes): within it, every value is decided by
// a probe.
const FirstFitWork = 4

// FirstFit returns which of a delta's values to keep (keep[i] for value i) so that they
// fit together within a codec's limits, by first fit: each value, in order, is kept when
// it fits with those kept before it, and left out otherwise, a later value being tried
// all the same. sizes[i] is the size of value i encoded alone; fits reports whether the
// values keep marks encode together with what the caller always keeps (it must not
// retain keep), and is taken as true, without a call, for the values kept so far (none
// at first): the caller checks the result by encoding it.
//
// Rather than try the values one by one (an encoding of the delta per value, quadratic
// in their number), it searches runs: the longest run of the values not decided yet that
// fits with those kept is kept and the value after it left out. The first search
// (LongestFit) tries all the values first: one call when they all fit, about log2(n)
// otherwise. The later ones gallop from the next value (1, 2, 4, ... values, then a
// binary search), so that a value left out costs a call of about the size of the values
// kept. For a fits that is monotone (values that fit together still fit without one of
// them, as with BinaryCodec's sizes and JavaCodec's MaxBytes, MaxEntries and a MaxHandles
// set; a MaxHandles left 0 grows with the stream's bytes, so there a value of many bytes
// and few handles makes values fit that did not without it: session/backup's Diff
// therefore fits its values with MaxHandles set to its default
// (TestDiffFitsUnderAFixedHandleLimit), where session/delta's Replicate still fits them
// with its codec's limits), what a run search keeps and leaves out is exactly what trying the values one by one would:
// FirstFit is exact first fit, a later value of any size being tried, also one as large
// as a value left out, which may fit where that one did not (it shares Java class
// descriptors with those kept, or takes fewer handles for its bytes:
// TestFirstFitTriesEqualSizes).
//
// That holds while the calls after the first search encode, summed, at most
// FirstFitWork times the sum of sizes, each call counted as the sizes of the values it
// marks plus a 64th of their sum (the caller builds each probe from every value). A call
// that would go beyond is not made; the values still undecided are then decided as
// follows: those not smaller alone than the smallest value left out so far are left out
// without a call (they would not fit either were sizes added up, kept only growing), the
// others searched again as the first search does, each search leaving out a value and,
// unprobed, the later ones not smaller than it; after MaxFirstFitSearches such searches
// the values still undecided are left out. So past the budget, a later value no smaller
// alone than one left out is left out even where, sharing descriptors with those kept,
// it would have fitted (TestFirstFitManyValues shows where the budget ends): up to the
// first such value, what FirstFit keeps is what exact first fit keeps, and where sizes
// add up (no sharing) it keeps exactly that, the searches allowing
// (TestFirstFitAtTheBudgetEdge). Within the budget or past it, what FirstFit keeps is a
// set of values fits held for (or none): never one beyond the limits. Past the budget
// its calls are those of at most MaxFirstFitSearches binary searches, of about log2(n)
// calls each, each call encoding at most the whole delta.
func FirstFit(sizes []int, fits func(keep []bool) bool) []bool {
	total := 0
	for _, s := range sizes {
		total += max(s, 0)
	}
	keep, _ := firstFit(sizes, fits, FirstFitWork*total)
	return keep
}

// firstFit is FirstFit with its budget (FirstFit's is FirstFitWork times the sum of
// sizes); spent is what its probes after the first search counted against it.
func firstFit(sizes []int, fits func(keep []bool) bool, budget int) (keep []bool, spent int) {
	n := len(sizes)
	keep = make([]bool, n)
	if n == 0 {
		return keep, 0
	}
	sum := make([]int, n+1) // sum[i] is the sizes of values 0..i-1
	for i, s := range sizes {
		sum[i+1] = sum[i] + max(s, 0)
	}
	total := sum[n]
	perCall := total/64 + 1
	work := 0
	keptSize := 0
	mark := func(from, to int, v bool) {
		for i := from; i < to; i++ {
			keep[i] = v
		}
	}
	// try reports whether values pos..pos+k-1 fit with those kept.
	try := func(pos, k int) bool {
		mark(pos, pos+k, true)
		ok := fits(keep)
		mark(pos, pos+k, false)
		return ok
	}
	smallestOut := -1 // the smallest size left out by a call, -1 for none yet
	leaveOut := func(i int) {
		if smallestOut < 0 || sizes[i] < smallestOut {
			smallestOut = sizes[i]
		}
	}
	run := LongestFit(n, func(k int) bool { return try(0, k) })
	mark(0, run, true)
	keptSize += sum[run]
	if run == n {
		return keep, work
	}
	leaveOut(run)
	pos := run + 1
	// The exact part: gallop from pos while the budget allows.
	for pos < n {
		afford := func(k int) bool {
			cost := keptSize + sum[pos+k] - sum[pos] + perCall
			if work+cost > budget {
				return false
			}
			work += cost
			return true
		}
		m := n - pos
		lo, hi, done := 0, -1, true // values pos..pos+lo-1 fit; pos..pos+hi-1 do not (hi -1: unknown)
		for step := 1; hi < 0 && lo < m; step *= 2 {
			k := min(lo+step, m)
			if !afford(k) {
				done = false
				break
			}
			if try(pos, k) {
				lo = k
			} else {
				hi = k
			}
		}
		for done && hi >= 0 && hi-lo > 1 {
			mid := lo + (hi-lo)/2
			if !afford(mid) {
				done = false
				break
			}
			if try(pos, mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
		// Values pos..pos+lo-1 fit together with those kept: each fits with those kept
		// before it, fits being monotone.
		mark(pos, pos+lo, true)
		keptSize += sum[pos+lo] - sum[pos]
		pos += lo
		if !done {
			break
		}
		if pos < n { // hi == lo+1: the value at pos does not fit
			leaveOut(pos)
			pos++
		}
	}
	if pos == n {
		return keep, work
	}
	// Past the budget: the values not smaller than one left out are left out unprobed.
	rest := make([]int, 0, n-pos) // the values not decided yet, in order
	for i := pos; i < n; i++ {
		if sizes[i] < smallestOut {
			rest = append(rest, i)
		}
	}
	markIs := func(is []int, v bool) {
		for _, i := range is {
			keep[i] = v
		}
	}
	for range MaxFirstFitSearches {
		if len(rest) == 0 {
			break
		}
		run := LongestFit(len(rest), func(k int) bool {
			markIs(rest[:k], true)
			ok := fits(keep)
			markIs(rest[:k], false)
			return ok
		})
		markIs(rest[:run], true)
		if run == len(rest) {
			break
		}
		out := sizes[rest[run]]
		smaller := rest[:0] // written behind the reads
		for _, i := range rest[run+1:] {
			if sizes[i] < out {
				smaller = append(smaller, i)
			}
		}
		rest = smaller
	}
	return keep, work
}
