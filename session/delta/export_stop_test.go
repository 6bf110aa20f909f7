package delta

import "context"

// ReplicateNoWait is the asynchronous middleware's replication of s: its delta is queued
// (or, while one of s's is queued or being sent, left pending to follow it) and the call
// returns at once (tests only).
func ReplicateNoWait(m *Manager, s *Session) error {
	return m.replicate(context.Background(), s, false)
}

// AsyncStopping reports whether m's asynchronous replication queue was told to stop
// (Manager.Stop reached it; tests only).
func AsyncStopping(m *Manager) bool {
	if m.async == nil {
		return false
	}
	m.async.mu.Lock()
	defer m.async.mu.Unlock()
	return m.async.stopped
}

// HoldBackground starts a background goroutine of m's that Stop waits for, as its sweep
// or a state transfer stuck, until the returned release is called (tests only).
func HoldBackground(m *Manager) (release func()) {
	held := make(chan struct{})
	m.mu.Lock()
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		<-held
	}()
	return func() { close(held) }
}

// HoldTracked starts a goroutine of c's that Close waits for, as a reply stuck, until
// the returned release is called (tests only).
func HoldTracked(c *Cluster) (release func()) {
	held := make(chan struct{})
	c.goTracked(func() { <-held })
	return func() { close(held) }
}
