//go:build unix

package doccheck

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// lockMachine makes documentation tests of several checkouts on one machine take turns:
// the docs name fixed ports (4000, 8081, …) and a multicast group.
func lockMachine(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "gotribes-doccheck.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() }) // closing releases the lock
}
