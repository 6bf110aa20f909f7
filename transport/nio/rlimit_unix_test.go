//go:build unix

package nio

import "syscall"

// canLowerDescriptorLimit reports whether lowerDescriptorLimit works here.
const canLowerDescriptorLimit = true

// lowerDescriptorLimit lowers the process's soft limit of open descriptors
// (RLIMIT_NOFILE) to 256, for the descriptor-exhaustion tests' child processes.
func lowerDescriptorLimit() error {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = 256
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// raiseDescriptorLimit raises the soft limit lowerDescriptorLimit set to 512 (at most
// the hard limit).
func raiseDescriptorLimit() error {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	lim.Cur = min(512, lim.Max)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// canRaiseDescriptorLimit reports whether raiseDescriptorLimit raises the limit
// lowerDescriptorLimit set: the hard limit is at least 512.
func canRaiseDescriptorLimit() bool {
	var lim syscall.Rlimit
	return syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Max >= 512
}
