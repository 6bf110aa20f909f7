package delta

import (
	"testing"
	"unsafe"
)

// TestSessionSizeClass: a transferred replica with one attribute (a session and the room
// for its attribute, allocated together: newTransferredReplica) stays within the 352-byte
// size class of Go's allocator, which a joiner pays for a million sessions, and a session
// alone (a primary, a replica of another shape) within the 256-byte one: fields most
// sessions never use (a rename's retry; the version a session was made again above, the
// stamps of its other parts, its notes and named listeners) live behind pointers.
func TestSessionSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(replicaWithAttr{}); n > 352 {
		t.Errorf("a replica with its attribute takes %d bytes, over the 352-byte size class", n)
	}
	if n := unsafe.Sizeof(Session{}); n > 256 {
		t.Errorf("a session takes %d bytes, over the 256-byte size class", n)
	}
}
