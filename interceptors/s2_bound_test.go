package interceptors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
)

// An S2 block whose header announces more than its tags produce is refused before the
// output is allocated: a 6-byte block announcing 64 MiB (one literal byte after the
// header) made the decoder allocate 64 MiB, then fail.
func TestS2AnnouncedSizeBounded(t *testing.T) {
	s, err := NewS2(S2Config{})
	if err != nil {
		t.Fatal(err)
	}
	const size = DefaultMaxDecompressedSize
	block := binary.AppendUvarint(nil, size)
	block = append(block, 0<<2|0 /* a literal of one byte */, 'x')
	var out []byte
	got := testutil.Allocated(func() { out, err = s.codec.decompress(block, size) })
	if !errors.Is(err, ErrCorrupt) || out != nil {
		t.Errorf("a %d-byte block announcing %d bytes: %d bytes out, %v, want ErrCorrupt", len(block), size, len(out), err)
	}
	if got > 1<<20 {
		t.Errorf("a %d-byte block announcing %d bytes: %d bytes allocated", len(block), size, got)
	}

	// A block whose copy reaches before its start, or that ends early, is refused as well.
	for name, b := range map[string][]byte{
		"copy before the start": append(binary.AppendUvarint(nil, 8), 0<<2|0, 'x', 4<<2|2, 2, 0),
		"literal past the end":  append(binary.AppendUvarint(nil, 8), 7<<2|0, 'x'),
		"repeat with no offset": append(binary.AppendUvarint(nil, 9), 0<<2|0, 'x', 0<<2|1, 0),
		"fewer bytes":           append(binary.AppendUvarint(nil, 9), 0<<2|0, 'x', 3<<2|1, 1),
	} {
		if out, err := s.codec.decompress(b, size); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %q, %v, want ErrCorrupt", name, out, err)
		}
	}

	// Real blocks still decode at every level, the densest (zeros: repeats of 16 MiB)
	// included, and copies from more than 64 KiB back (4-byte offsets).
	random := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	far := append(bytes.Clone(random), random...)
	for _, lvl := range []S2Level{S2Fast, S2Better, S2Best} {
		cd := &s2Codec{level: lvl}
		for _, in := range [][]byte{nil, []byte("hello hello hello hello"), bytes.Repeat([]byte("abc"), 100000), make([]byte, size), random, far} {
			c, err := cd.compress(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := cd.decompress(c, size)
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("level %v: %d bytes compressed to %d: %d bytes back, %v", lvl, len(in), len(c), len(out), err)
			}
		}
	}
}
