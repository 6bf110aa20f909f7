//go:build unix

package redisstore_test

import (
	"os"
	"syscall"
)

// canStopProcesses reports whether stopProcess and continueProcess work here.
const canStopProcesses = true

// stopProcess stops p with SIGSTOP: its sockets stay open and it answers nothing.
func stopProcess(p *os.Process) error { return p.Signal(syscall.SIGSTOP) }

// continueProcess lets p, stopped by stopProcess, run again (SIGCONT).
func continueProcess(p *os.Process) error { return p.Signal(syscall.SIGCONT) }
