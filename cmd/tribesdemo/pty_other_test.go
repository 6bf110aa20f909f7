//go:build !linux

package main

import (
	"errors"
	"os"
)

// openPTY fails with errors.ErrUnsupported: it is written for Linux's /dev/ptmx and
// /dev/pts only (pty_linux_test.go), and TestTerminalDetection skips its pseudo-terminal
// part here.
func openPTY() (master, slave *os.File, err error) { return nil, nil, errors.ErrUnsupported }
