//go:build linux

package thp

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// chunkBytes is the granularity at which the Go runtime maps its heap as it grows (its
// pallocChunkBytes): the aligned 4 MiB around a heap object is mapped, and was mapped by
// one call, with no advice yet. Were the runtime's chunks smaller, the advice would reach
// into a neighbouring mapping, which huge pages do not harm either.
const chunkBytes = 4 << 20

var advised struct {
	last atomic.Uintptr // the chunk advised last: most calls are for it
	mu   sync.Mutex
	set  map[uintptr]struct{}
}

// disabled reports whether GODEBUG has disablethp=1 (read once).
var disabled = sync.OnceValue(func() bool {
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "disablethp=1" {
			return true
		}
	}
	return false
})

// Advise asks the kernel for transparent huge pages for the 4 MiB chunk of the Go heap
// that holds p, unless it did already. The pages of the chunk touched so far keep their
// size; those touched afterwards come in huge pages where the kernel has them. Advise is
// cheap once a chunk is advised (an atomic load in the usual case) and safe for
// concurrent use.
func Advise(p unsafe.Pointer) {
	adviseChunk(uintptr(p) &^ (chunkBytes - 1))
}

// AdviseBytes is Advise for every chunk that b's capacity spans: call it on a large
// buffer right after making it, before it is written.
func AdviseBytes(b []byte) {
	if cap(b) == 0 {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for c := start &^ (chunkBytes - 1); c < start+uintptr(cap(b)); c += chunkBytes {
		adviseChunk(c)
	}
}

func adviseChunk(base uintptr) {
	if base == 0 || advised.last.Load() == base || disabled() {
		return
	}
	advised.mu.Lock()
	defer advised.mu.Unlock()
	if advised.set == nil {
		advised.set = map[uintptr]struct{}{}
	}
	if _, ok := advised.set[base]; !ok {
		// Errors are ignored on purpose: EINVAL where the kernel has no transparent huge
		// pages, ENOMEM where part of the range is not mapped (the rest is advised).
		syscall.Syscall(syscall.SYS_MADVISE, base, chunkBytes, syscall.MADV_HUGEPAGE)
		advised.set[base] = struct{}{}
	}
	advised.last.Store(base)
}

// Advised reports whether the mapping that holds the address is advised for huge pages:
// its VmFlags in /proc/self/smaps include "hg". It is for tests and diagnostics.
func Advised(addr uintptr) (bool, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return false, err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mappingRange(line); ok {
			in = lo <= uint64(addr) && uint64(addr) < hi
			continue
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return slices.Contains(strings.Fields(flags), "hg"), nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, fmt.Errorf("thp: no mapping in /proc/self/smaps holds %#x", addr)
}

// mappingRange parses the first line of a mapping in smaps ("lo-hi perms ...").
func mappingRange(line string) (lo, hi uint64, ok bool) {
	r, _, found := strings.Cut(line, " ")
	if !found {
		return 0, 0, false
	}
	l, h, found := strings.Cut(r, "-")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.ParseUint(l, 16, 64)
	hi, err2 := strconv.ParseUint(h, 16, 64)
	return lo, hi, err1 == nil && err2 == nil
}
