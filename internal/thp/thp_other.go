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

// Populates reports false: MADV_POPULATE_WRITE is Linux's.
func Populates() bool { return false }

// Resident reports an error: only Linux tells.
func Resident(b []byte) (resident, pages int, err error) { return 0, 0, errNotLinux }

// Flags reports an error: only Linux tells.
func Flags(addr uintptr) ([]string, error) { return nil, errNotLinux }

// Advised reports an error: only Linux tells.
func Advised(addr uintptr) (bool, error) { return false, errNotLinux }
