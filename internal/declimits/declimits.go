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
