//go:build !linux

package thp

import (
	"errors"
	"unsafe"
)

// Advise does nothing: transparent huge pages are Linux's.
func Advise(p unsafe.Pointer) {}

// AdviseBytes does nothing: transparent huge pages are Linux's.
func AdviseBytes(b []byte) {}

// Advised reports an error: only Linux tells.
func Advised(addr uintptr) (bool, error) {
	return false, errors.New("thp: huge page advice is only known on Linux")
}
