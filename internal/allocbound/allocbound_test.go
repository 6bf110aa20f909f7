package allocbound

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

var sink []byte

// TestBytesMeasuresTheCall: a call that allocates 1 MiB measures at least that, one that
// allocates nothing under 1 KiB, and Check fails an input over its bound (on a fake T).
func TestBytesMeasuresTheCall(t *testing.T) {
	if got := Bytes(func() { sink = make([]byte, 1<<20) }); got < 1<<20 {
		t.Errorf("a 1 MiB allocation measured %d bytes", got)
	}
	if got := Bytes(func() {}); got >= 1<<10 {
		t.Errorf("an empty call measured %d bytes", got)
	}
	var fake testing.T
	in := make([]byte, 100)
	r := Check(&fake, Bound{K: 2, C: 1 << 10}, [][]byte{in}, func(b []byte) { sink = make([]byte, 64*len(b)) })
	if !fake.Failed() || r.Bytes < 6400 || r.Ratio < 64 || !bytes.Equal(r.Worst, in) {
		t.Errorf("an input over its bound: failed %v, %+v", fake.Failed(), r)
	}
}

// TestSmash: each variant has the seed's length and differs from it in at most 5
// consecutive bytes, and a large value lands at every offset.
func TestSmash(t *testing.T) {
	seed := bytes.Repeat([]byte{0}, 16)
	vs := Smash(seed)
	if len(vs) < 4*len(seed) {
		t.Fatalf("%d variants of %d bytes", len(vs), len(seed))
	}
	at := map[int]bool{}
	for _, v := range vs {
		if len(v) != len(seed) {
			t.Fatalf("variant of %d bytes", len(v))
		}
		first, last := -1, -1
		for i := range v {
			if v[i] != seed[i] {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first < 0 || last-first >= 5 {
			t.Fatalf("variant %x", v)
		}
		at[first] = true
	}
	if len(at) != len(seed) {
		t.Errorf("large values at %d of %d offsets", len(at), len(seed))
	}
}

// TestCorpus reads the []byte and string arguments of a corpus file.
func TestCorpus(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.MkdirAll(filepath.Join("testdata", "fuzz", "FuzzX"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := "go test fuzz v1\n[]byte(\"a\\x00b\")\nstring(\"cd\")\nuint8(4)\n"
	if err := os.WriteFile(filepath.Join("testdata", "fuzz", "FuzzX", "seed"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	got := Corpus(t, "FuzzX")
	if len(got) != 2 || string(got[0]) != "a\x00b" || string(got[1]) != "cd" {
		t.Errorf("corpus %q", got)
	}
	if got := Corpus(t, "FuzzMissing"); len(got) != 0 {
		t.Errorf("a missing corpus gave %q", got)
	}
}

// spin runs for d without allocating.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// TestCheckIgnoresABusyGoroutine: a goroutine left running by an earlier test that
// allocates all the time does not count in what Check measures of a call that
// allocates nothing: before, the call ran beside it on another P and each of its
// measures took in what it allocated meanwhile (megabytes in 200 µs), over any bound.
func TestCheckIgnoresABusyGoroutine(t *testing.T) {
	var stop atomic.Bool
	done := make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer close(done)
		close(started)
		for !stop.Load() {
			busySink = make([]byte, 64)
		}
	}()
	defer func() { stop.Store(true); <-done }()
	<-started
	if got := Bytes(func() { spin(200 * time.Microsecond) }); got >= 4<<10 {
		t.Errorf("a call allocating nothing measured %d bytes beside a busy goroutine", got)
	}
	in := make([]byte, 64)
	var fake testing.T
	r := Check(&fake, Bound{K: 1, C: 4 << 10}, [][]byte{in, in, in, in}, func([]byte) { spin(200 * time.Microsecond) })
	if fake.Failed() {
		t.Errorf("Check failed calls allocating nothing beside a busy goroutine: %+v", r)
	}
}

var busySink []byte

// TestWithoutRaceSkipsOnlyUnderRace: a test that calls WithoutRace skips under the race
// detector and runs without it (scripts/test.sh's second pass).
func TestWithoutRaceSkipsOnlyUnderRace(t *testing.T) {
	ran := false
	t.Run("inner", func(t *testing.T) {
		WithoutRace(t)
		ran = true
	})
	if ran == (raceScale > 1) {
		t.Errorf("race detector on %v: the test ran %v", raceScale > 1, ran)
	}
}
