package interceptors

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/gotribes/tribes/channel"
)

// Seeded fuzz targets for every decoder of the package. Run one with e.g.
//
//	go test -run '^$' -fuzz FuzzParseFragment -fuzztime 30s ./interceptors/

func FuzzParseFragment(f *testing.F) {
	for _, p := range SplitFragments([]byte("0123456789"), 4) {
		f.Add(p)
	}
	f.Add([]byte("hello\x00"))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		chunk, piece, idx, count, err := ParseFragment(b)
		if err != nil {
			if !errors.Is(err, ErrShortMessage) && !errors.Is(err, ErrBadFragment) {
				t.Fatalf("%v wraps neither ErrShortMessage nor ErrBadFragment", err)
			}
			return
		}
		if !piece {
			if !bytes.Equal(chunk, b[:len(b)-1]) {
				t.Fatal("whole message not the input minus one byte")
			}
			return
		}
		if idx < 0 || idx >= count || len(chunk) != len(b)-FragmentTrailerLen {
			t.Fatalf("piece %d of %d, %d bytes", idx, count, len(chunk))
		}
		if b[len(b)-1] == fragPiece {
			// Re-encoding a well-formed piece gives the input back.
			re := append(append([]byte(nil), chunk...), b[len(b)-9:len(b)-1]...)
			re = append(re, fragPiece)
			if !bytes.Equal(re, b) {
				t.Fatal("re-encoding differs")
			}
		}
	})
}

// FuzzFragmentationReceive feeds arbitrary pieces to a receiver: it must never panic or
// deliver more than it was given.
func FuzzFragmentationReceive(f *testing.F) {
	for _, p := range SplitFragments([]byte("0123456789"), 4) {
		f.Add(p, p)
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		fr, _ := NewFragmentation(FragmentationConfig{MaxMessageSize: 1 << 16})
		var delivered int
		fr.collectOnly(t, a, &delivered)
		fr.collectOnly(t, b, &delivered)
		if delivered > len(a)+len(b) {
			t.Fatalf("delivered %d bytes from %d", delivered, len(a)+len(b))
		}
	})
}

// collectOnly runs the receive path of f without a channel.
func (f *Fragmentation) collectOnly(t *testing.T, b []byte, delivered *int) {
	chunk, piece, idx, count, err := ParseFragment(b)
	if err != nil || !piece {
		return
	}
	msg := &channel.Message{ID: []byte{1}, Data: b}
	whole, err := f.collect(msg, chunk, idx, count)
	if err == nil && whole != nil {
		*delivered += len(whole.Data)
	}
}

func FuzzParseOrderTrailer(f *testing.F) {
	f.Add([]byte("hello\x00\x00\x00\x01"))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		data, nr, err := ParseOrderTrailer(b)
		if err != nil {
			if len(b) >= OrderTrailerLen {
				t.Fatal(err)
			}
			return
		}
		if !bytes.Equal(AppendOrderTrailer(bytes.Clone(data), nr), b) {
			t.Fatal("round trip")
		}
	})
}

func FuzzEncryptOpen(f *testing.F) {
	key := []byte("0123456789abcdef")
	gcm, _ := NewEncrypt(EncryptConfig{Key: key})
	cbc, _ := NewEncrypt(EncryptConfig{Key: key, Algorithm: "AES/CBC/PKCS5Padding"})
	legacyGCM, _ := NewEncrypt(EncryptConfig{Key: key, Format: EncryptFormatLegacy})
	legacyCBC, _ := NewEncrypt(EncryptConfig{Key: key, Algorithm: "AES/CBC/PKCS5Padding", Format: EncryptFormatLegacy})
	all := []*Encrypt{gcm, cbc, legacyGCM, legacyCBC}
	for _, e := range all {
		w, _ := e.Seal(time.Now().UnixMilli(), []byte("hello"))
		f.Add(w, []byte("hello"))
	}
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, wire, plain []byte) {
		for _, e := range all {
			_, _, _ = e.Open(wire) // must not panic
			_, _ = e.open(wire, time.Now())
			w, err := e.Seal(42, plain)
			if err != nil {
				t.Fatal(err)
			}
			wantTS := int64(42)
			if e.Config().Format == EncryptFormatLegacy {
				wantTS = 0
			}
			ts, got, err := e.Open(w)
			if err != nil || ts != wantTS || !bytes.Equal(got, plain) {
				t.Fatalf("round trip: ts %d, %v", ts, err)
			}
		}
	})
}

func FuzzParseCoordinationMessage(f *testing.F) {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{1}}
	seed := CoordinationMessage{Leader: m, Source: m, View: []channel.Member{m}, Type: CoordConf}
	b, _ := seed.MarshalBinary()
	f.Add(b)
	f.Add(CoordHeader[:])
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := ParseCoordinationMessage(b)
		if err != nil {
			return
		}
		re, err := msg.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed but cannot re-encode: %v", err)
		}
		again, err := ParseCoordinationMessage(re)
		if err != nil || !again.Leader.Equal(msg.Leader) || len(again.View) != len(msg.View) || again.ID != msg.ID || again.Type != msg.Type {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseConfirmation(f *testing.F) {
	f.Add(Confirmation(make([]byte, 16)), 16)
	f.Fuzz(func(t *testing.T, b []byte, idLen int) {
		if idLen < 0 || idLen > 1024 {
			return
		}
		if id, ok := ParseConfirmation(b, idLen); ok && !bytes.Equal(Confirmation(id), b) {
			t.Fatal("round trip")
		}
	})
}

// FuzzDecompress checks every codec with a small cap: no panic, never more than the cap.
// The codecs are configured with that cap, as an interceptor's are with its
// MaxDecompressedSize (zstd's bound does not depend on it:
// TestZstdBoundIndependentOfDecoderLimit).
func FuzzDecompress(f *testing.F) {
	const limit = 1 << 16
	g, _ := NewGzip(GzipConfig{MaxDecompressedSize: limit})
	z, _ := NewZstd(ZstdConfig{MaxDecompressedSize: limit})
	s, _ := NewS2(S2Config{MaxDecompressedSize: limit})
	codecs := []codec{g.codec, z.codec, s.codec}
	for _, cd := range codecs {
		c, _ := cd.compress([]byte("hello hello hello hello"))
		f.Add(c)
		c, _ = cd.compress(make([]byte, 2*limit))
		f.Add(c)
	}
	f.Add(streamedZstd(f, 8<<20)) // no content size in its header
	// No content size and a window past the cap: decoded under a narrower one.
	f.Add(streamedZstdWindow(f, 1<<20, 128<<20))
	// The same after a frame announcing its size: its buffer planned for both.
	head, _ := z.codec.compress(bytes.Repeat([]byte("tribes "), 300))
	f.Add(append(head, streamedZstdWindow(f, 1<<20, 128<<20)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, cd := range codecs {
			out, err := cd.decompress(b, limit)
			if err == nil && len(out) > limit {
				t.Fatalf("%d bytes out, cap %d", len(out), limit)
			}
		}
		// The check of an S2 block's tags before allocating refuses no block the
		// decoder takes, and takes none it refuses.
		if n, err := s2.DecodedLen(b); err == nil && n <= limit {
			want, werr := s2.Decode(nil, b)
			got, err := s.codec.decompress(b, limit)
			if (werr == nil) != (err == nil) || !bytes.Equal(got, want) {
				t.Fatalf("s2: decoder %d bytes, %v; decompress %d bytes, %v", len(want), werr, len(got), err)
			}
		}
	})
}
