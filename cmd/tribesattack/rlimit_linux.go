package main

import "syscall"

// setNofile sets the process's RLIMIT_NOFILE, soft and hard limit, to n.
func setNofile(n int) error {
	lim := syscall.Rlimit{Cur: uint64(n), Max: uint64(n)}
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// nofile is the process's RLIMIT_NOFILE (its soft limit), 0 if it cannot be read.
func nofile() uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	return lim.Cur
}
