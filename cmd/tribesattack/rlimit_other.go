//go:build !linux

package main

import "errors"

// setNofile fails: the suite sets RLIMIT_NOFILE on Linux only.
func setNofile(int) error { return errors.New("-nofile needs Linux") }

// nofile is 0 (unknown): the suite reads RLIMIT_NOFILE on Linux only.
func nofile() uint64 { return 0 }
