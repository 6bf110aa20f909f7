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

func TestStat(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	pid := os.Getpid()
	before, err := procfs.Stat(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Touch 8 MiB of new memory and spin until the CPU time moves by a tick.
	b := make([]byte, 8<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	var after procfs.Times
	for after.CPU() <= before.CPU() {
		if after, err = procfs.Stat(pid); err != nil {
			t.Fatal(err)
		}
	}
	d := after.Sub(before)
	if d.MinorFaults == 0 || d.CPU() <= 0 || d.User < 0 || d.System < 0 {
		t.Fatalf("work between two reads: %+v", d)
	}
	if _, err := procfs.Stat(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
}

func TestContextSwitches(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if n, err := procfs.ContextSwitches(os.Getpid()); err != nil || n == 0 {
		t.Fatalf("ContextSwitches = %d, %v", n, err)
	}
	if _, err := procfs.ContextSwitches(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
}
