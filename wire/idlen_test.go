package wire

import (
	"bytes"
	"errors"
	"testing"
)

// A ChannelData's id may take any length up to MaxMessageIDLen (1 KiB), though Java always
// writes 16 bytes (docs/wire-format.md, ChannelData); one byte more is refused.
func TestChannelDataIDUpTo1KiB(t *testing.T) {
	m := specMember()
	addr := AppendMember(nil, &m)
	for _, n := range []int{0, 1, 16, MaxMessageIDLen} {
		id := bytes.Repeat([]byte{0xa5}, n)
		cd, err := ParseChannelData(AppendChannelData(nil, 1, 7, id, addr, []byte("x")), nil)
		if err != nil || !bytes.Equal(cd.UniqueID, id) || string(cd.Message) != "x" {
			t.Fatalf("%d-byte id: %+v, %v", n, cd, err)
		}
	}
	body := AppendChannelData(nil, 1, 7, make([]byte, MaxMessageIDLen+1), addr, []byte("x"))
	if _, err := ParseChannelData(body, nil); !errors.Is(err, ErrBadChannelData) {
		t.Fatalf("%d-byte id: err = %v, want ErrBadChannelData", MaxMessageIDLen+1, err)
	}
}
