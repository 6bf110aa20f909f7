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

// MaxFirstFitSearches bounds the searches of FirstFit: the values still undecided after
// that many are left out.
const MaxFirstFitSearches = 16

// FirstFit returns which of a delta's values to keep (keep[i] for value i) so that they
// fit together within a codec's limits: each value, in order, is kept when it fits with
// those kept before it, and left out otherwise, a later value being tried all the same
// (first fit). sizes[i] is the size of value i encoded alone; fits reports whether the
// values keep marks encode together with what the caller always keeps (it must not
// retain keep), and is taken as true, without a call, for the values kept so far (none
// at first): the caller checks the result by encoding it.
//
// Rather than try the values one by one (an encoding of the delta per value, quadratic
// in their number), it searches the longest run of the values not decided yet that fits
// with those kept (LongestFit: one call when they all fit, about log2(n) otherwise),
// keeps it and leaves out the value after it; the values not smaller alone than that one
// are then left out without a call, as they would not fit either (kept only grows), and
// the search goes on with the smaller ones. Values of one size, or of sizes growing
// along the delta, take one search, each smaller value left out a further one; after MaxFirstFitSearches searches the values still
// undecided are left out. A later value that shares a Java class descriptor or object
// with those kept may have fitted where a value of its size alone did not: it is left out.
func FirstFit(sizes []int, fits func(keep []bool) bool) []bool {
	keep := make([]bool, len(sizes))
	rest := make([]int, len(sizes)) // the values not decided yet, in order
	for i := range rest {
		rest[i] = i
	}
	mark := func(is []int, v bool) {
		for _, i := range is {
			keep[i] = v
		}
	}
	for range MaxFirstFitSearches {
		if len(rest) == 0 {
			break
		}
		run := LongestFit(len(rest), func(k int) bool {
			mark(rest[:k], true)
			ok := fits(keep)
			mark(rest[:k], false)
			return ok
		})
		mark(rest[:run], true)
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
	return keep
}
