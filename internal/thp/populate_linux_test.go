package thp_test

import (
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"github.com/gotribes/tribes/internal/thp"
)

// While a period of advice is open, advising a buffer faults every page of the heap
// chunks it spans in (MADV_POPULATE_WRITE) and leaves its contents as they were; outside
// one nothing is faulted in (a mapping of its own, so that no page of it is in memory
// before).
func TestAdvicePopulates(t *testing.T) {
	const size = 6 << 20
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	resident := func(b []byte) (int, int) {
		t.Helper()
		n, pages, err := thp.Resident(b)
		if err != nil {
			t.Fatal(err)
		}
		return n, pages
	}
	m[4096] = 7 // one page written
	thp.AdviseBytes(m)
	if n, pages := resident(m); n != 1 || pages != size/4096 {
		t.Fatalf("%d of %d pages in memory after advice outside a period of advice, want the 1 written of %d", n, pages, size/4096)
	}

	release := thp.Hold()
	defer release()
	b := make([]byte, 12<<20) // a large object in chunks of the heap of its own
	b[4096] = 7
	thp.AdviseBytes(b)
	if !thp.Populates() {
		t.Skip("the kernel refused MADV_POPULATE_WRITE (older than Linux 5.14), or nothing is advised here")
	}
	if n, pages := resident(b); n != pages {
		t.Fatalf("%d of %d pages in memory after advice in a period of advice", n, pages)
	}
	for i, v := range b {
		if i == 4096 && v != 7 || i != 4096 && v != 0 {
			t.Fatalf("byte %d is %d after the advice", i, v)
		}
	}
	runtime.KeepAlive(unsafe.Pointer(&b[0]))
}
