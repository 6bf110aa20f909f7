package testutil_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

// fakeTB records what a helper reports instead of failing the test.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
}

func TestEventuallySucceeds(t *testing.T) {
	var n atomic.Int32
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if n.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n.Load() != 3 {
		t.Fatalf("cond called %d times, want 3", n.Load())
	}
}

func TestEventuallyReportsTheLastError(t *testing.T) {
	f := &fakeTB{TB: t}
	var n atomic.Int32
	testutil.Eventually(f, 30*time.Millisecond, func() error { return fmt.Errorf("attempt %d", n.Add(1)) })
	want := fmt.Sprintf("attempt %d", n.Load())
	if !strings.HasSuffix(f.fatal, want) || strings.Contains(f.fatal, "deadline") {
		t.Fatalf("reported %q, want it to end with %q", f.fatal, want)
	}
}

func TestEventuallyTrueNamesTheCondition(t *testing.T) {
	f := &fakeTB{TB: t}
	testutil.EventuallyTrue(f, 10*time.Millisecond, "the moon is blue", func() bool { return false })
	if !strings.Contains(f.fatal, "the moon is blue") {
		t.Fatalf("reported %q", f.fatal)
	}
}

func TestPollStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := testutil.Poll(ctx, func() error { return errors.New("never") })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "never") {
		t.Fatalf("Poll = %v", err)
	}
}

func TestProcStatus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	pid := os.Getpid()
	if err := testutil.ResetPeakRSS(pid); err != nil {
		t.Fatal(err)
	}
	st, err := testutil.ProcStatus(pid)
	if err != nil {
		t.Fatal(err)
	}
	if st["VmRSS"] == 0 || st["VmHWM"] < st["VmRSS"] {
		t.Fatalf("VmRSS %d, VmHWM %d", st["VmRSS"], st["VmHWM"])
	}
	if _, err := testutil.ProcStatus(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
}

func TestProcCPUAndContextSwitches(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	pid := os.Getpid()
	// Spin until the kernel has charged this process at least one tick.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sink := 0
	err := testutil.Poll(ctx, func() error {
		for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
			sink++
		}
		cpu, err := testutil.ProcCPU(pid)
		if err == nil && cpu <= 0 {
			err = errors.New("no CPU time yet")
		}
		return err
	})
	if err != nil || sink == 0 {
		t.Fatal(err)
	}
	if n, err := testutil.ProcContextSwitches(pid); err != nil || n == 0 {
		t.Fatalf("ProcContextSwitches = %d, %v", n, err)
	}
	if _, err := testutil.ProcCPU(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
	if _, err := testutil.ProcContextSwitches(-1); err == nil {
		t.Fatal("no error for pid -1")
	}
}
