package callq

import (
	"bytes"
	"runtime"
	"strconv"
)

// goid returns the id of the calling goroutine, as the first line of its stack trace
// ("goroutine 18 [running]:") gives it, or 0 if that line cannot be read. Go gives a
// goroutine no other identity; the queue asks it once per Run that finds calls to make,
// and once per InCall.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b, ok := bytes.CutPrefix(b, []byte("goroutine "))
	if !ok {
		return 0
	}
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// GoroutineID returns the id of the calling goroutine, as goid does, for a caller that
// must tell whether it is a goroutine it calls up from (interceptors' MessageDispatch, for
// an OnComplete call that begins while its Stop runs). It reads a stack trace, which
// takes microseconds and more on a deep stack (the whole stack is walked): read it once
// per goroutine, never per message (MessageDispatch reads it once per worker).
func GoroutineID() uint64 { return goid() }
