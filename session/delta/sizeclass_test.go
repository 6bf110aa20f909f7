package delta

import (
	"testing"
	"unsafe"
)

// TestSessionSizeClass: a transferred replica with one attribute (a session and the room
// for its attribute, allocated together: newTransferredReplica) stays within 400 bytes,
// the 416-byte size class of Go's allocator, which a joiner pays for a million sessions:
// fields most sessions never use (a rename's retry) live behind a pointer.
func TestSessionSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(replicaWithAttr{}); n > 400 {
		t.Errorf("a replica with its attribute takes %d bytes, over 400 (the 416-byte size class)", n)
	}
}
