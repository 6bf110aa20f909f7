package delta

import (
	"testing"
	"unsafe"
)

// TestSessionSizeClass: a transferred replica with one attribute (a session and the room
// for its attribute, allocated together: newTransferredReplica) stays within the 384-byte
// size class of Go's allocator, which a joiner pays for a million sessions: fields most
// sessions never use (a rename's retry; the version a session was made again above and
// the stamps of its other parts) live behind pointers.
func TestSessionSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(replicaWithAttr{}); n > 384 {
		t.Errorf("a replica with its attribute takes %d bytes, over the 384-byte size class", n)
	}
}
