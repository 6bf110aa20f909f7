package mcast

import (
	"context"
	"time"

	"github.com/gotribes/tribes/channel"
)

// socketError records an error on the socket of generation gen. It reports whether the
// caller should pause (the socket is still the failing one).
func (s *Service) socketError(gen uint64, kind int, op string, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.socketErrorLocked(gen, kind, op, err)
}

// Kinds of socket errors, counted separately as Tomcat's receiver and sender threads do.
const (
	rxErr = 0
	txErr = 1
)

func (s *Service) socketErrorLocked(gen uint64, kind int, op string, err error) bool {
	if gen != s.connGen || s.conn == nil {
		return false // an old socket, already replaced or closed
	}
	s.st.sockErr.Add(1)
	s.errCount[kind]++
	n := s.errCount[kind]
	if n == 1 {
		s.log.Warn("mcast socket error", "op", op, "err", err)
	}
	if n >= s.cfg.RecoveryCounter && !s.cfg.RecoveryDisabled && !s.recovering {
		s.recovering = true
		s.log.Warn("mcast socket failing, recovering", "errors", n, "err", err)
		life := s.life
		s.bg.Go(func() { s.recover(life) })
	}
	return true
}

// recover re-creates the socket every RecoverySleepTime until that works or the service
// stops. Unlike Tomcat it neither announces a shutdown nor forgets the members: the ones
// that are still there keep being heard once the new socket works.
func (s *Service) recover(ctx context.Context) {
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		old := s.conn
		conn, err := s.open(&s.cfg)
		if err == nil {
			s.conn = conn
			s.connGen++
			s.errCount, s.recovering = [2]int{}, false
			s.st.recov.Add(1)
			if s.running&channel.SvcMembershipTx != 0 {
				s.sendHeartbeatLocked(false)
			}
		}
		s.mu.Unlock()
		if err == nil {
			if old != nil {
				_ = old.Close()
			}
			s.log.Info("mcast socket recovered", "attempt", attempt)
			return
		}
		s.log.Warn("mcast socket recovery failed", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.RecoverySleepTime):
		}
	}
}
