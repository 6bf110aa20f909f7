//go:build !unix

package nio

import "os"

// readNow reads nothing: taking what a socket holds without waiting, past the deadline,
// needs a non-blocking read, which only Unix-like systems make here. A reply that arrived
// but was not read by the deadline does not count (os.ErrDeadlineExceeded).
func (c *sconn) readNow([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }

// alive is true: looking at an idle connection without blocking needs a non-blocking
// peek, which only Unix-like systems make here. A pooled connection its peer closed fails
// the next send on it, as a lost connection (retried per MaxRetryAttempts).
func (c *sconn) alive() bool { return true }
