package jserial

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// linkChain is a chain of n objects of class example.Link (one field, next), the
// innermost's next being last.
func linkChain(n int, last any) *Object {
	desc := &ClassDesc{Name: "example.Link", SUID: 1, Flags: SCSerializable,
		Fields: []Field{{Type: 'L', Name: "next", Signature: "Ljava/lang/Object;"}}}
	next := last
	for range n {
		next = &Object{Class: desc, Slots: []Slot{{Class: desc, Values: []any{next}}}}
	}
	return next.(*Object)
}

// TestEncoderErrorPathClipped: an encoder's error names the path to the value that
// failed, a field at a time, clipped to its ends where it is long. An object chain
// deeper than MaxDepth (1000) failed with every field of the path in its message
// ("example.Link.next: " 1000 times, 19 KB), formatted anew at each level on the way
// out (each level's message copying the one below: 10 MB for that chain); the message
// now keeps the path's outer and inner fields around the count of those left out,
// under 1 KiB, still wraps ErrLimit, and a short path reads as before.
func TestEncoderErrorPathClipped(t *testing.T) {
	_, err := Marshal(linkChain(2000, nil))
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("a chain of 2000 objects: %v, want ErrLimit", err)
	}
	msg := err.Error()
	t.Logf("%d bytes: %s", len(msg), msg)
	if len(msg) > 1024 {
		t.Errorf("a chain of 2000 objects: an error of %d bytes, want at most 1 KiB: %.200s...", len(msg), msg)
	}
	if !strings.HasPrefix(msg, "example.Link.next: example.Link.next: ") ||
		!strings.HasSuffix(msg, "example.Link.next: example.Link.next: jserial: limit exceeded: nesting deeper than MaxDepth 1000") {
		t.Errorf("a chain of 2000 objects: %.300q, want both ends of the path", msg)
	}
	if !strings.Contains(msg, "more fields") {
		t.Errorf("a chain of 2000 objects: %.300q, want the count of the fields left out", msg)
	}

	// A short path: every field named, as before.
	_, err = Marshal(linkChain(2, 5)) // a Go int has no Java form
	if want := "example.Link.next: example.Link.next: "; !errors.Is(err, ErrType) || !strings.HasPrefix(err.Error(), want) ||
		strings.Count(err.Error(), "example.Link.next") != 2 {
		t.Errorf("a chain of 2 objects ending in an int: %v, want ErrType after %q", err, want)
	}

	// Formatting the path on the way out allocates in proportion to it, not to its square.
	chain := linkChain(900, 5)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Marshal(chain)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; !errors.Is(err, ErrType) || n > 1<<20 {
		t.Errorf("a failed encoding of a chain of 900 objects: %v, %d bytes allocated, want ErrType within 1 MiB", err, n)
	}
}
