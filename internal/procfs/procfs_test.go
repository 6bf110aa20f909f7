package procfs_test

import (
	"os"
	"runtime"
	"testing"
	"time"

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

func TestCPUAndContextSwitches(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	pid := os.Getpid()
	// Spin until the kernel has charged this process at least one tick, for at most 10 s.
	var cpu time.Duration
	for deadline := time.Now().Add(10 * time.Second); cpu == 0 && time.Now().Before(deadline); {
		for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
		}
		var err error
		if cpu, err = procfs.CPU(pid); err != nil {
			t.Fatal(err)
		}
	}
	if cpu <= 0 {
		t.Fatalf("CPU = %v after spinning", cpu)
	}
	if n, err := procfs.ContextSwitches(pid); err != nil || n == 0 {
		t.Fatalf("ContextSwitches = %d, %v", n, err)
	}
	if _, err := procfs.CPU(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
	if _, err := procfs.ContextSwitches(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
}
