package interceptors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// A coordination message whose view count is more than its bytes can hold is refused
// before the view is allocated: each member takes at least 77 bytes, but the count was
// checked against 4 bytes a member, so 64 KiB announcing 16 383 members allocated 2.2 MB
// (a channel.Member is 136 bytes) before the first member failed to parse.
func TestCoordinationMessageViewCountBounded(t *testing.T) {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{1}}
	msg := CoordinationMessage{Leader: m, Source: m, Type: CoordConf}
	b, err := msg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	head := b[:len(b)-4-32] // up to the view count
	const junk = 64 << 10
	count := uint32(junk+32) / 4
	in := binary.BigEndian.AppendUint32(bytes.Clone(head), count)
	in = append(in, make([]byte, junk+32)...)
	var parseErr error
	got := testutil.Allocated(func() { _, parseErr = ParseCoordinationMessage(in) })
	if !errors.Is(parseErr, ErrBadCoordMessage) {
		t.Fatalf("%d members announced in %d bytes: %v, want ErrBadCoordMessage", count, len(in), parseErr)
	}
	if got > 2*uint64(len(in)) {
		t.Errorf("%d bytes announcing %d members: %d bytes allocated", len(in), count, got)
	}

	// A view that fills its bytes exactly still parses.
	msg.View = []channel.Member{m, m, m}
	if b, err = msg.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	if back, err := ParseCoordinationMessage(b); err != nil || len(back.View) != 3 {
		t.Fatalf("a view of 3: %d members, %v", len(back.View), err)
	}
}
