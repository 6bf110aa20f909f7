package delta

import (
	"runtime/debug"
	"sync"
)

// transferGC raises the collector's target (GOGC) of the whole process while state
// transfers are received, and puts it back after the last one.
//
// A joiner's heap grows from nearly nothing to everything it receives, and almost all
// of what it allocates stays (its chunks are decoded into reused arrays, chunkArrays). At
// the default GOGC of 100 the collector runs each time the heap doubles, marking every
// session received so far each time: 9 to 10 cycles at 1 000 000 sessions of 1 KiB,
// from a seventh to a third of the joiner's CPU time. Since the heap grows mostly by what it keeps, a
// higher target adds little memory (the garbage since the last cycle, not a multiple of
// the heap): GOGC 400 took 3 cycles there, with a peak heap of 1410 MiB for 1398 MiB
// kept. A memory limit (GOMEMLIMIT, debug.SetMemoryLimit) still applies: the collector
// runs as the heap nears it, whatever GOGC says.
var transferGC struct {
	mu      sync.Mutex
	running int  // transfers holding the raise
	raised  bool // GOGC was raised by the first and is ours to restore
	prev    int  // the value before the raise
	set     int  // the value raised to
}

// raiseGCPercent raises GOGC to percent, unless it is already that high or off, until
// the returned release is called (every transfer calls it once). The last release
// restores the earlier value, unless someone changed GOGC meanwhile. percent < 0 does
// nothing.
func raiseGCPercent(percent int) (release func()) {
	if percent < 0 {
		return func() {}
	}
	g := &transferGC
	g.mu.Lock()
	defer g.mu.Unlock()
	g.running++
	if g.running == 1 {
		cur := debug.SetGCPercent(percent)
		g.raised = cur >= 0 && cur < percent
		if g.raised {
			g.prev, g.set = cur, percent
		} else {
			debug.SetGCPercent(cur)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.running--
			if g.running > 0 || !g.raised {
				return
			}
			g.raised = false
			if cur := debug.SetGCPercent(g.prev); cur != g.set {
				debug.SetGCPercent(cur) // changed by someone else meanwhile: theirs stays
			}
		})
	}
}
