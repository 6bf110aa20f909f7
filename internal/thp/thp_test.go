package thp_test

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/gotribes/tribes/internal/thp"
)

func TestAdvise(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("transparent huge pages are Linux's")
	}
	// A large object of its own, in chunks of the heap the test has not advised before.
	b := make([]byte, 8<<20)
	p := unsafe.Pointer(&b[len(b)/2])
	before, err := thp.Advised(uintptr(p))
	if err != nil {
		t.Fatal(err)
	}
	if before {
		t.Fatal("the heap is advised before Advise: the test cannot tell")
	}
	thp.Advise(p)
	thp.Advise(p) // the second call is for a chunk already advised
	after, err := thp.Advised(uintptr(p))
	if err != nil {
		t.Fatal(err)
	}
	if !after {
		t.Fatal("after Advise, the mapping holding the object has no \"hg\" flag in /proc/self/smaps")
	}
	// The contents are untouched.
	b[0], b[len(b)-1] = 1, 2
	if b[0] != 1 || b[len(b)-1] != 2 || b[len(b)/2] != 0 {
		t.Fatal("memory changed")
	}
	runtime.KeepAlive(b)
}

func TestAdvisedUnmapped(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("transparent huge pages are Linux's")
	}
	if _, err := thp.Advised(8); err == nil {
		t.Fatal("no error for an address no mapping holds")
	}
}

// GODEBUG=disablethp=1, the Go runtime's switch against huge pages for its heap, turns
// Advise off (the test runs itself again with it set).
func TestGODEBUGDisablesAdvice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("transparent huge pages are Linux's")
	}
	if os.Getenv("THP_TEST_CHILD") == "1" {
		b := make([]byte, 8<<20)
		thp.AdviseBytes(b)
		advised, err := thp.Advised(uintptr(unsafe.Pointer(&b[len(b)/2])))
		if err != nil {
			t.Fatal(err)
		}
		if advised {
			t.Fatal("advised with GODEBUG=disablethp=1")
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
