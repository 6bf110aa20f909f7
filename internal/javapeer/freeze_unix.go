//go:build unix

package javapeer

import "syscall"

// Freeze sends SIGSTOP to the JVM (by its PID): it keeps its sockets but answers nothing.
// Kill ends it (Stop would wait StopTimeout for it first).
func (p *Peer) Freeze() error {
	if p.cmd == nil || p.cmd.Process == nil {
		return ErrExited
	}
	return p.cmd.Process.Signal(syscall.SIGSTOP)
}
