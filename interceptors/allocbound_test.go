package interceptors

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/wire"
)

// smashed returns inputs, the fuzz corpus of fuzz and each of them with a length or count
// smashed to a large value.
func smashed(t *testing.T, fuzz string, inputs ...[]byte) [][]byte {
	inputs = append(inputs, allocbound.Corpus(t, fuzz)...)
	for _, in := range inputs[:len(inputs):len(inputs)] {
		inputs = append(inputs, allocbound.Smash(in)...)
	}
	return inputs
}

// TestHeadersAllocationBound: the fragmentation, order and two-phase trailers, the
// coordinator's messages and encrypted payloads allocate at most 8 times their length
// plus 4 KiB for the fuzz targets' seeds and corpus, every seed with a length or count
// smashed, and a coordination message whose view holds as many empty members as fit.
func TestHeadersAllocationBound(t *testing.T) {
	bound := allocbound.Bound{K: 8, C: 4 << 10}
	pieces := SplitFragments([]byte("0123456789"), 4)
	frags := smashed(t, "FuzzParseFragment", append(pieces, []byte("hello\x00"), []byte{0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 1})...)
	allocbound.Check(t, bound, frags, func(b []byte) { _, _, _, _, _ = ParseFragment(b) })
	fr, err := NewFragmentation(FragmentationConfig{})
	if err != nil {
		t.Fatal(err)
	}
	allocbound.Check(t, allocbound.Bound{K: 8, C: 4 << 10}, frags, func(b []byte) {
		if chunk, piece, idx, count, err := ParseFragment(b); err == nil && piece {
			_, _ = fr.collect(&channel.Message{ID: []byte{1}, Data: b}, chunk, idx, count)
		}
	})

	orders := smashed(t, "FuzzParseOrderTrailer", []byte("hello\x00\x00\x00\x01"), []byte{1, 2, 3})
	allocbound.Check(t, bound, orders, func(b []byte) { _, _, _ = ParseOrderTrailer(b) })
	confirmations := smashed(t, "FuzzParseConfirmation", Confirmation(make([]byte, 16)))
	allocbound.Check(t, bound, confirmations, func(b []byte) { _, _ = ParseConfirmation(b, 16) })

	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{1}}
	seed := CoordinationMessage{Leader: m, Source: m, View: []channel.Member{m}, Type: CoordConf}
	b, err := seed.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	coords := append(smashed(t, "FuzzParseCoordinationMessage", b, CoordHeader[:], emptyView(t, 4)), emptyView(t, 1<<16))
	allocbound.Check(t, bound, coords, func(b []byte) { _, _ = ParseCoordinationMessage(b) })

	key := []byte("0123456789abcdef")
	var wires [][]byte
	var all []*Encrypt
	for _, cfg := range []EncryptConfig{{Key: key}, {Key: key, Algorithm: "AES/CBC/PKCS5Padding"},
		{Key: key, Format: EncryptFormatLegacy}, {Key: key, Algorithm: "AES/CBC/PKCS5Padding", Format: EncryptFormatLegacy}} {
		e, err := NewEncrypt(cfg)
		if err != nil {
			t.Fatal(err)
		}
		w, err := e.Seal(time.Now().UnixMilli(), []byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		all, wires = append(all, e), append(wires, w)
	}
	allocbound.Check(t, bound, smashed(t, "FuzzEncryptOpen", wires...), func(b []byte) {
		for _, e := range all {
			_, _, _ = e.Open(b)
		}
	})
}

// emptyView is a coordination message whose view holds n members with every variable
// part empty, the densest view the parser takes.
func emptyView(t *testing.T, n int) []byte {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{1}}
	seed := CoordinationMessage{Leader: m, Source: m, Type: CoordConf}
	b, err := seed.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The seed's view count, 0, is 36 bytes before its end (count, id, type).
	tail := append([]byte(nil), b[len(b)-32:]...)
	b = binary.BigEndian.AppendUint32(b[:len(b)-36], uint32(n))
	empty := wire.AppendMember(nil, &wire.Member{})
	for range n {
		b = binary.BigEndian.AppendUint32(b, uint32(len(empty)))
		b = append(b, empty...)
	}
	return append(b, tail...)
}

// TestDecompressAllocationBound: a compressed payload expands by design; what the
// codecs allocate is bounded by the cap on their output, at most the cap plus peakSlack
// (gzip's decoder state and scratch buffer; 4 times the cap plus 1 MiB before), whatever
// the input's contents for the inputs below: a zstd frame decoded under a narrowed window
// (zstdNarrowWindow) also costs a copy of its compressed bytes, which a large input would
// add (docs/interceptors-transforms.md).
func TestDecompressAllocationBound(t *testing.T) {
	allocbound.WithoutRace(t)
	const limit = 1 << 16
	// Configured with the cap, as an interceptor's codec is with its MaxDecompressedSize.
	g, _ := NewGzip(GzipConfig{MaxDecompressedSize: limit})
	z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
	s, _ := NewS2(S2Config{MaxDecompressedSize: limit})
	seeds := [][]byte{streamedZstd(t, 8<<20)}
	for _, cd := range []codec{g.codec, z.codec, s.codec} {
		c, _ := cd.compress([]byte("hello hello hello hello"))
		seeds = append(seeds, c)
		c, _ = cd.compress(make([]byte, 2*limit))
		seeds = append(seeds, c)
	}
	inputs := smashed(t, "FuzzDecompress", seeds...)
	for _, cd := range []codec{g.codec, z.codec, s.codec} {
		allocbound.Check(t, allocbound.Bound{K: 0, C: limit + peakSlack}, inputs, func(b []byte) { _, _ = cd.decompress(b, limit) })
	}
}
