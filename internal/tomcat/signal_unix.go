//go:build unix

package tomcat

import "syscall"

// signal sends sig to the process pid.
func signal(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }
