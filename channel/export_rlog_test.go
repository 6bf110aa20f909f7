package channel

import "time"

// SetRateLogClock makes now the clock of the rate-limited log of the channels created
// from now on, until the returned function is called.
func SetRateLogClock(now func() time.Time) (restore func()) {
	rlogNow = now
	return func() { rlogNow = nil }
}
