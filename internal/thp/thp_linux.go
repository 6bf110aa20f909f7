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

// modeFile holds the system's transparent huge page mode, the current one in brackets.
const modeFile = "/sys/kernel/mm/transparent_hugepage/enabled"

var state struct {
	holders atomic.Int32   // open periods of advice (Hold)
	last    atomic.Uintptr // the chunk advised last: most calls are for it

	mu  sync.Mutex
	set map[uintptr]struct{} // chunks advised during the open periods
}

// Enabled reports whether Hold and Advise do anything in this process: the system's mode
// is "madvise" and GODEBUG does not have disablethp=1. It is read once.
var Enabled = sync.OnceValue(func() bool {
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "disablethp=1" {
			return false
		}
	}
	mode, err := os.ReadFile(modeFile)
	return err == nil && strings.Contains(string(mode), "[madvise]")
})

// Hold opens a period during which Advise and AdviseBytes advise, and returns its end
// (call it once; later calls do nothing). Periods may overlap: the advice is withdrawn
// when the last one ends.
func Hold() (release func()) {
	if !Enabled() {
		return func() {}
	}
	state.holders.Add(1)
	var once sync.Once
	return func() { once.Do(releaseHold) }
}

func releaseHold() {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.holders.Add(-1) > 0 {
		return
	}
	state.last.Store(0) // before the withdrawal: a new period's Advise must not skip its chunk
	for base := range state.set {
		syscall.Syscall(syscall.SYS_MADVISE, base, chunkBytes, syscall.MADV_NOHUGEPAGE)
	}
	clear(state.set)
}

// Advise asks the kernel for transparent huge pages for the 4 MiB chunk of the Go heap
// that holds p, while a period of advice is open (Hold) and unless it did already. The
// pages of the chunk touched so far keep their size; those touched afterwards come in
// huge pages where the kernel has them. Advise is cheap (an atomic load or two in the
// usual case) and safe for concurrent use.
func Advise(p unsafe.Pointer) {
	adviseChunk(uintptr(p) &^ (chunkBytes - 1))
}

// AdviseBytes is Advise for every chunk that b's capacity spans: call it on a large
// buffer right after making it, before it is written.
func AdviseBytes(b []byte) {
	if cap(b) == 0 || state.holders.Load() == 0 {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for c := start &^ (chunkBytes - 1); c < start+uintptr(cap(b)); c += chunkBytes {
		adviseChunk(c)
	}
}

func adviseChunk(base uintptr) {
	if base == 0 || state.holders.Load() == 0 || state.last.Load() == base {
		return
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.holders.Load() == 0 {
		return // the last period ended meanwhile
	}
	if state.set == nil {
		state.set = map[uintptr]struct{}{}
	}
	if _, ok := state.set[base]; !ok {
		// Errors are ignored on purpose: EINVAL where the kernel has no transparent huge
		// pages, ENOMEM where part of the range is not mapped (the rest is advised).
		syscall.Syscall(syscall.SYS_MADVISE, base, chunkBytes, syscall.MADV_HUGEPAGE)
		state.set[base] = struct{}{}
	}
	state.last.Store(base)
}

// Flags returns the VmFlags of the mapping that holds the address, from
// /proc/self/smaps: "hg" when it is advised for huge pages, "nh" when the advice was
// withdrawn. It is for tests and diagnostics.
func Flags(addr uintptr) ([]string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
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
			return strings.Fields(flags), nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("thp: no mapping in /proc/self/smaps holds %#x", addr)
}

// Advised reports whether the mapping that holds the address is advised for huge pages
// (Flags has "hg").
func Advised(addr uintptr) (bool, error) {
	flags, err := Flags(addr)
	return slices.Contains(flags, "hg"), err
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
