//go:build !unix

package nio

import "os"

// readNow reads nothing: taking what a socket holds without waiting, past the deadline,
// needs a non-blocking read, which only Unix-like systems make here. A reply that arrived
// but was not read by the deadline does not count (os.ErrDeadlineExceeded).
func (c *sconn) readNow([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }

// alive is true: looking at an idle connection without blocking needs a non-blocking
// peek, which only Unix-like systems make here. A pooled connection its peer closed fails
// the next send on it that waits for an ACK, as a lost connection (retried per
// MaxRetryAttempts); a send without ACK on it usually succeeds, the system taking the
// bytes before the peer's reset comes back, and its message is lost without an error.
func (c *sconn) alive() bool { return true }
