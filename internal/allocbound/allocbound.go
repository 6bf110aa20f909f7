// Package allocbound measures what a decoder allocates for one input against the
// input's length, so that tests can hold every decoder of what peers send to a bound
// of the form K times the input's length plus C: a small input must not make a node
// allocate far more than it is (a declared count or length trusted before its bytes
// arrived, a map or slice presized from the input, nested structures each allocating a
// minimum).
//
// The measure is runtime.MemStats.TotalAlloc before and after a call, which counts what
// every goroutine allocates. Goroutines an earlier test left running (a node shutting
// down, a timer, a connection) are kept out of it as far as they can be: the calls run
// with GOMAXPROCS 1 (as testing.AllocsPerRun does), so that no other goroutine runs
// beside them, only where the call blocks or the scheduler preempts it (every 10 ms),
// and a call over its bound is measured again, its least of a few calls counting (what
// others allocate only adds). A goroutine allocating all the time beside the calls
// counted megabytes in each before (TestCheckIgnoresABusyGoroutine). The tests that use
// it run their package's tests one at a time (none calls t.Parallel).
package allocbound

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Bound is the most a decoder may allocate for one input of n bytes: K*n + C.
type Bound struct {
	K int    // bytes allocated per input byte
	C uint64 // bytes allocated whatever the input
}

// Max is the bound for an input of n bytes, doubled under the race detector (whose
// sync.Pool drops what is put in it at random).
func (b Bound) Max(n int) uint64 { return raceScale * (uint64(b.K)*uint64(n) + b.C) }

func (b Bound) String() string { return fmt.Sprintf("%d×len + %d", b.K, b.C) }

// runs is how many times Bytes calls its function; it reports the least.
const runs = 5

// alone runs f with GOMAXPROCS 1: no other goroutine runs beside it, only where it
// blocks or is preempted.
func alone(f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
}

// Bytes reports the bytes f allocates: the least TotalAlloc difference of a few calls,
// run with GOMAXPROCS 1.
func Bytes(f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var least uint64
	var before, after runtime.MemStats
	for i := range runs {
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; i == 0 || d < least {
			least = d
		}
	}
	return least
}

// once reports the bytes one call of f allocates.
func once(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Result is the worst input a Check measured.
type Result struct {
	Inputs   int     // inputs measured
	Worst    []byte  // the input with the highest ratio
	Bytes    uint64  // what Worst allocated
	Ratio    float64 // Bytes / len(Worst), the highest of inputs of at least 64 bytes
	MaxBytes uint64  // the most any input allocated
}

func (r Result) String() string {
	return fmt.Sprintf("%d inputs, worst ratio %.1f (%d bytes for %d), most %d bytes",
		r.Inputs, r.Ratio, r.Bytes, len(r.Worst), r.MaxBytes)
}

// Check decodes each input with decode and fails t for each one that allocates more
// than bound allows (naming the input's length and a prefix of it). It returns the worst
// ratio among inputs of at least 64 bytes (smaller ones are C's business) and logs it.
func Check(t testing.TB, bound Bound, inputs [][]byte, decode func([]byte)) Result {
	t.Helper()
	var r Result
	failed := 0
	alone(func() {
		for _, in := range inputs {
			got := once(func() { decode(in) })
			if got > bound.Max(len(in)) { // measured again: another goroutine may have allocated meanwhile
				got = min(got, Bytes(func() { decode(in) }))
			}
			r.Inputs++
			r.MaxBytes = max(r.MaxBytes, got)
			if len(in) >= 64 {
				if ratio := float64(got) / float64(len(in)); ratio > r.Ratio {
					r.Ratio, r.Worst, r.Bytes = ratio, in, got
				}
			}
			if got > bound.Max(len(in)) {
				failed++
				if failed <= 5 {
					t.Errorf("a %d-byte input allocated %d bytes, over %s = %d: %x", len(in), got, bound,
						bound.Max(len(in)), in[:min(len(in), 96)])
				}
			}
		}
	})
	if failed > 5 {
		t.Errorf("%d inputs in all over %s", failed, bound)
	}
	t.Logf("bound %s: %s", bound, r)
	return r
}

// Smash returns variants of seed that a decoder trusting a declared count or length
// would take for large ones: each 4-byte window set to 0x7fffffff and 0x00ffffff, each
// 2-byte window to 0xffff, each byte to 0xff, and each 5 bytes to the varint of
// 0x7fffffff. Of a seed longer than 4 KiB only the first 2 KiB and the last 512 bytes
// are smashed (headers and trailers; what lies between is mostly data). Big
// endian, as Java's streams and Tribes' frames write their lengths.
func Smash(seed []byte) [][]byte {
	var out [][]byte
	put := func(at int, b []byte) {
		if at+len(b) > len(seed) {
			return
		}
		v := bytes.Clone(seed)
		copy(v[at:], b)
		out = append(out, v)
	}
	var w4 [4]byte
	for i := range seed {
		if len(seed) > 4<<10 && i >= 2<<10 && i < len(seed)-512 {
			continue
		}
		for _, v := range []uint32{0x7fffffff, 0x00ffffff} {
			binary.BigEndian.PutUint32(w4[:], v)
			put(i, w4[:])
		}
		put(i, []byte{0xff, 0xff})
		put(i, []byte{0xff})
		put(i, binary.AppendUvarint(nil, 1<<31-1))
	}
	return out
}

// Corpus returns the []byte and string arguments of the fuzz corpus files under
// testdata/fuzz/name, each argument an input of its own (a missing directory gives
// none).
func Corpus(t testing.TB, name string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			for _, prefix := range []string{"[]byte(", "string("} {
				if lit, ok := strings.CutPrefix(line, prefix); ok {
					if s, err := strconv.Unquote(strings.TrimSuffix(lit, ")")); err == nil {
						out = append(out, []byte(s))
					}
				}
			}
		}
	}
	return out
}

// WithoutRace skips t when the race detector is on. It is for a test that only runs a
// decoder over large inputs on one goroutine (and measures it): the race detector can find
// nothing there, makes such a test five to ten times slower (jserial's
// TestElementArraysAndDescriptorsCharged took 52 s under -race on a loaded machine, 10 s
// without) and doubles its bound (Max). scripts/test.sh runs every package whose tests
// call WithoutRace a second time without -race, where such a test runs and holds the
// exact bound.
func WithoutRace(t testing.TB) {
	t.Helper()
	if raceScale > 1 {
		t.Skip("a single-goroutine decoder over large inputs: runs without -race (scripts/test.sh's second pass)")
	}
}
