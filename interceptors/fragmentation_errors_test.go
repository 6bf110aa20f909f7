package interceptors

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// Malformed pieces and pieces beyond the reassembly bounds are refused with typed errors:
// ErrBadFragment for a piece whose index or count is impossible or disagrees with the
// message's earlier pieces, channel.ErrMessageTooLarge for one over MaxMessageSize or
// MaxPendingBytes. They were bare strings, for no errors.Is.
func TestFragmentationErrorsTyped(t *testing.T) {
	piece := func(data string, idx, count int32) []byte {
		b := append([]byte(data), 0, 0, 0, 0, 0, 0, 0, 0, fragPiece)
		binary.BigEndian.PutUint32(b[len(data):], uint32(idx))
		binary.BigEndian.PutUint32(b[len(data)+4:], uint32(count))
		return b
	}
	for _, b := range [][]byte{piece("x", 2, 2), piece("x", -1, 2), piece("x", 0, 0)} {
		if _, _, _, _, err := ParseFragment(b); !errors.Is(err, ErrBadFragment) {
			t.Errorf("ParseFragment(%x): %v, want ErrBadFragment", b, err)
		}
	}

	f, err := NewFragmentation(FragmentationConfig{MaxMessageSize: 16, MaxPendingBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	src := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, UniqueID: channel.UniqueID{1}}
	msg := func(id byte) *channel.Message { return &channel.Message{ID: []byte{id}, Source: src} }
	if _, err := f.collect(msg(1), []byte("abc"), 0, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := f.collect(msg(1), []byte("def"), 1, 4); !errors.Is(err, ErrBadFragment) {
		t.Errorf("a piece whose count disagrees: %v, want ErrBadFragment", err)
	}
	if _, err := f.collect(msg(2), []byte("x"), 0, 100); !errors.Is(err, channel.ErrMessageTooLarge) {
		t.Errorf("100 pieces against a 16-byte limit: %v, want channel.ErrMessageTooLarge", err)
	}
	if _, err := f.collect(msg(3), make([]byte, 17), 0, 2); !errors.Is(err, channel.ErrMessageTooLarge) {
		t.Errorf("a 17-byte piece against a 16-byte limit: %v, want channel.ErrMessageTooLarge", err)
	}
	if _, err := f.collect(msg(4), make([]byte, 10), 0, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := f.collect(msg(5), make([]byte, 10), 0, 2); !errors.Is(err, channel.ErrMessageTooLarge) {
		t.Errorf("one sender's pieces over MaxMessageSize: %v, want channel.ErrMessageTooLarge", err)
	}

	all, err := NewFragmentation(FragmentationConfig{MaxMessageSize: 1 << 10, MaxPendingBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		s := src
		s.Port = int32(5000 + i)
		_, err = all.collect(&channel.Message{ID: []byte{1}, Source: s}, make([]byte, 300), 0, 2)
	}
	if !errors.Is(err, channel.ErrMessageTooLarge) {
		t.Errorf("all senders' pieces over MaxPendingBytes: %v, want channel.ErrMessageTooLarge", err)
	}
}
