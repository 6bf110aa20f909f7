package thp_test

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/gotribes/tribes/internal/thp"
)

func flags(t *testing.T, p unsafe.Pointer) []string {
	t.Helper()
	f, err := thp.Flags(uintptr(p))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// While a period of advice is open, Advise marks the object's chunk of the heap for huge
// pages ("hg" in /proc/self/smaps); when it ends, the advice is withdrawn ("nh"); outside
// any period Advise does nothing.
func TestHoldAdviseRelease(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("transparent huge pages are Linux's")
	}
	if !thp.Enabled() {
		// Not in madvise mode (or GODEBUG=disablethp=1): Hold and Advise leave the heap
		// alone.
		defer thp.Hold()()
		b := make([]byte, 8<<20)
		thp.AdviseBytes(b)
		if f := flags(t, unsafe.Pointer(&b[len(b)/2])); slices.Contains(f, "hg") {
			t.Fatalf("the heap was advised although huge page advice is off here: %v", f)
		}
		runtime.KeepAlive(b)
		return
	}
	// Large objects of their own, in chunks of the heap the test has not advised before.
	outside := make([]byte, 8<<20)
	thp.AdviseBytes(outside)
	thp.Advise(unsafe.Pointer(&outside[len(outside)/2]))
	if f := flags(t, unsafe.Pointer(&outside[len(outside)/2])); slices.Contains(f, "hg") {
		t.Fatalf("advised outside a period of advice: %v", f)
	}

	release := thp.Hold()
	second := thp.Hold() // overlapping periods: the advice lasts until both ended
	b := make([]byte, 8<<20)
	p := unsafe.Pointer(&b[len(b)/2])
	thp.Advise(p)
	thp.Advise(p) // the second call is for a chunk already advised
	big := make([]byte, 12<<20)
	thp.AdviseBytes(big)
	for _, q := range []unsafe.Pointer{p, unsafe.Pointer(&big[0]), unsafe.Pointer(&big[len(big)-1])} {
		if f := flags(t, q); !slices.Contains(f, "hg") {
			t.Fatalf("not advised in a period of advice: %v", f)
		}
	}
	release()
	release() // once only
	if f := flags(t, p); !slices.Contains(f, "hg") {
		t.Fatalf("advice withdrawn while a period is still open: %v", f)
	}
	second()
	for _, q := range []unsafe.Pointer{p, unsafe.Pointer(&big[0]), unsafe.Pointer(&big[len(big)-1])} {
		if f := flags(t, q); slices.Contains(f, "hg") || !slices.Contains(f, "nh") {
			t.Fatalf("advice not withdrawn after the last period: %v", f)
		}
	}
	// The contents are untouched.
	b[0], b[len(b)-1] = 1, 2
	if b[0] != 1 || b[len(b)-1] != 2 || b[len(b)/2] != 0 || big[5] != 0 {
		t.Fatal("memory changed")
	}
	runtime.KeepAlive(b)
	runtime.KeepAlive(big)
	runtime.KeepAlive(outside)
}

func TestFlagsUnmapped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("transparent huge pages are Linux's")
	}
	if _, err := thp.Flags(8); err == nil {
		t.Fatal("no error for an address no mapping holds")
	}
}

// GODEBUG=disablethp=1, the Go runtime's switch against huge pages for its heap, turns
// the advice off (the test runs itself again with it set).
func TestGODEBUGDisablesAdvice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("transparent huge pages are Linux's")
	}
	if os.Getenv("THP_TEST_CHILD") == "1" {
		if thp.Enabled() {
			t.Fatal("enabled with GODEBUG=disablethp=1")
		}
		defer thp.Hold()()
		b := make([]byte, 8<<20)
		thp.AdviseBytes(b)
		if f := flags(t, unsafe.Pointer(&b[len(b)/2])); slices.Contains(f, "hg") {
			t.Fatalf("advised with GODEBUG=disablethp=1: %v", f)
		}
		runtime.KeepAlive(b)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGODEBUGDisablesAdvice$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "THP_TEST_CHILD=1", "GODEBUG=disablethp=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestGODEBUGDisablesAdvice") {
		t.Fatalf("child did not run the test:\n%s", out)
	}
}
