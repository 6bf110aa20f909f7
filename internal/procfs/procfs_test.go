package procfs_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/gotribes/tribes/internal/procfs"
)

func TestStatus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	pid := os.Getpid()
	if err := procfs.ResetPeakRSS(pid); err != nil {
		t.Fatal(err)
	}
	st, err := procfs.Status(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st["VmRSS"] == 0 || st["VmHWM"] < st["VmRSS"] {
		t.Fatalf("VmRSS %d, VmHWM %d", st["VmRSS"], st["VmHWM"])
	}
	if _, err := procfs.Status(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
}
