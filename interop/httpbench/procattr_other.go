//go:build !linux

package main

import "syscall"

// childAttr is nil: only Linux kills a child when its parent dies (Pdeathsig), elsewhere
// a harness that dies without stopping its children leaves them running.
func childAttr() *syscall.SysProcAttr { return nil }
