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
// a binary search, about log2(n) calls. session/delta and session/backup use it to keep
// the longest run of a delta's values that encodes within the codec's limits.
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
