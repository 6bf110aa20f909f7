//go:build unix

package netbench

import "syscall"

// Freeze stops the process (SIGSTOP).
func (p *Proc) Freeze() error { return p.signal(syscall.SIGSTOP) }

// Thaw continues it (SIGCONT).
func (p *Proc) Thaw() error { return p.signal(syscall.SIGCONT) }
