//go:build !unix

package tomcat

import (
	"os"
	"syscall"
)

// signal sends sig to the process pid (where the system supports it: Windows only kills).
func signal(pid int, sig syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	return p.Signal(sig)
}
