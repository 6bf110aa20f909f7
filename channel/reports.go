package channel

import (
	"errors"
	"fmt"
	"log/slog"
)

// What the transport and the membership service report about themselves and what they
// receive: failures and recoveries (HealthReporter), lost messages (LossReporter) and
// messages still arriving (ArrivalReporter).

// healthEvent records a failure (err != nil) or the recovery of one HealthReporter, logs it
// and tells the listeners implementing HealthListener (as with Heartbeater, a listener
// registered both ways is told twice). Failures are logged rate-limited per reporter (a
// stranger can make the transport fail and recover at will, by churning connections at
// the descriptor limit); a recovery is logged when its failure was, so that the last line
// about a reporter that recovered never says the channel is unhealthy
// (TestHealthLastLineIsTheState).
func (c *Channel) healthEvent(from HealthReporter, err error) {
	c.emu.Lock()
	defer c.emu.Unlock()
	if err != nil {
		c.health.Store(from, err)
		c.healthFail.Add(1)
		logged := c.rlog.Log(slog.LevelError, reporterName(from), "unhealthy", "tribes channel unhealthy", "err", err)
		if c.healthLogged == nil {
			c.healthLogged = map[HealthReporter]bool{}
		}
		c.healthLogged[from] = logged
	} else {
		if _, had := c.health.LoadAndDelete(from); !had {
			return
		}
		if c.healthLogged[from] {
			c.log.Warn("tribes channel healthy again", "peer", reporterName(from), "failures", c.healthFail.Load())
		}
		delete(c.healthLogged, from)
	}
	tell(c, func(h HealthListener) { h.HealthChanged(err) })
}

// reporterName names a HealthReporter in the rate-limited log: its type.
func reporterName(r HealthReporter) string { return fmt.Sprintf("%T", r) }

// messageLost counts and logs (rate-limited per sender) a message the transport lost, and
// tells the listeners implementing LossListener.
func (c *Channel) messageLost(l LostMessage) {
	c.lost.Add(1)
	c.rlog.Log(slog.LevelError, l.Source.Addr(), "lost", "tribes channel: a member's message was lost on receipt",
		"source", l.Source.String(), "size", l.Size, "err", l.Err)
	tell(c, func(h LossListener) { h.MessageLost(l) })
}

// Arriving reports whether the transport is receiving a message from m that has not
// arrived whole yet. It is false when the transport cannot tell (see ArrivalReporter).
func (c *Channel) Arriving(m Member) bool {
	return c.arrivals != nil && c.arrivals.Arriving(m.Key())
}

// Healthy reports whether no running part of the channel has an outstanding failure: it is
// false from the moment the transport or the membership service reports one (a receiver
// whose listener died, say) until it reports the recovery or the channel is stopped.
// Health endpoints and the metrics use it.
func (c *Channel) Healthy() bool { return c.Health() == nil }

// Health returns the outstanding failures joined (nil when healthy); see Healthy.
func (c *Channel) Health() error {
	var errs []error
	c.health.Range(func(_, v any) bool {
		errs = append(errs, v.(error))
		return true
	})
	return errors.Join(errs...)
}

// tell calls f with every message listener, then every membership listener, that
// implements L (a listener registered both ways is told twice, as in Tribes).
func tell[L any](c *Channel, f func(L)) {
	for _, e := range *c.msgL.Load() {
		if h, ok := any(e.l).(L); ok {
			f(h)
		}
	}
	for _, e := range *c.mbrL.Load() {
		if h, ok := any(e.l).(L); ok {
			f(h)
		}
	}
}
