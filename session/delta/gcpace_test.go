package delta

import (
	"runtime/debug"
	"testing"
)

// gcPercent returns the current GOGC (setting it reads it).
func gcPercent() int {
	v := debug.SetGCPercent(-1)
	debug.SetGCPercent(v)
	return v
}

func TestRaiseGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	check := func(step string, want int) {
		t.Helper()
		if got := gcPercent(); got != want {
			t.Fatalf("%s: GOGC is %d, want %d", step, got, want)
		}
	}

	// Two transfers at once: the first one's value, restored after the last.
	r1 := raiseGCPercent(400)
	check("first raise", 400)
	r2 := raiseGCPercent(800)
	check("second raise", 400)
	r1()
	r1() // a release counts once
	check("one of two released", 400)
	r2()
	check("both released", 100)

	// Changed by the application meanwhile: its value stays.
	r := raiseGCPercent(400)
	debug.SetGCPercent(50)
	r()
	check("changed meanwhile", 50)

	// Never lowered, never turned on, and negative leaves it alone.
	for _, start := range []int{1000, -1} {
		debug.SetGCPercent(start)
		r := raiseGCPercent(400)
		check("already higher or off", start)
		r()
		check("released", start)
	}
	debug.SetGCPercent(100)
	r = raiseGCPercent(-1)
	check("negative percent", 100)
	r()
	check("negative percent released", 100)
}
