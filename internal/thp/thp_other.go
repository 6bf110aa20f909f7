//go:build !linux

package thp

import (
	"errors"
	"unsafe"
)

var errNotLinux = errors.New("thp: huge page advice is only known on Linux")

// Enabled reports false: transparent huge pages are Linux's.
func Enabled() bool { return false }

// Hold does nothing: transparent huge pages are Linux's.
func Hold() (release func()) { return func() {} }

// Advise does nothing: transparent huge pages are Linux's.
func Advise(p unsafe.Pointer) {}

// AdviseBytes does nothing: transparent huge pages are Linux's.
func AdviseBytes(b []byte) {}

// Flags reports an error: only Linux tells.
func Flags(addr uintptr) ([]string, error) { return nil, errNotLinux }

// Advised reports an error: only Linux tells.
func Advised(addr uintptr) (bool, error) { return false, errNotLinux }
