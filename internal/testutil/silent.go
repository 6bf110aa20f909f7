package testutil

import (
	"net"
	"sync"
)

// SilentPeer is an unresponsive peer on 127.0.0.1: it accepts TCP connections and reads
// whatever arrives, but never writes, so that a sender waiting for an ACK or a reply
// waits until its context or its own timeout ends. It stops when the test ends.
type SilentPeer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
	closed   bool
	received chan struct{}
}

// NewSilentPeer starts a SilentPeer; it is closed at cleanup.
func NewSilentPeer(tb TB) *SilentPeer {
	tb.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("silent peer: %v", err)
	}
	s := &SilentPeer{ln: ln, received: make(chan struct{}, 1)}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				_ = c.Close()
				return
			}
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						select {
						case s.received <- struct{}{}:
						default:
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	tb.Cleanup(s.Close)
	return s
}

// Port returns the port the peer listens on.
func (s *SilentPeer) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Received is signalled (capacity one) when bytes arrived on a connection.
func (s *SilentPeer) Received() <-chan struct{} { return s.received }

// Close stops accepting, closes every connection and waits for the peer's goroutines.
func (s *SilentPeer) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
