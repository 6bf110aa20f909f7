package jserial

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzLimits keep single fuzz inputs cheap.
var fuzzLimits = DecoderConfig{MaxDepth: 200, MaxHandles: 1 << 12, MaxArrayLen: 1 << 16, MaxBytes: 1 << 20}

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.ser")
	for _, file := range files {
		if strings.Contains(file, "string_long") {
			continue
		}
		f.Add(golden(f, strings.TrimSuffix(filepath.Base(file), ".ser")))
	}
	for _, s := range []string{sessionMessageHex, rpcMessageHex, noRpcReplyHex, deltaRequestHex} {
		f.Add(hx(f, s))
	}
}

// FuzzDecode: decoding never panics, and what decodes re-encodes to a stream that
// decodes and re-encodes to itself.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		vals, err := UnmarshalAll(in, fuzzLimits)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		if len(vals) == 0 {
			return // just the header
		}
		b1 := encodeAll(t, vals)
		vals2, err := UnmarshalAll(b1, fuzzLimits)
		if err != nil {
			t.Fatalf("re-encoded stream does not decode: %v\nin  %x\nout %x", err, in, b1)
		}
		if b2 := encodeAll(t, vals2); !bytes.Equal(b1, b2) {
			t.Fatalf("not stable:\n%x\n%x", b1, b2)
		}
	})
}

// FuzzDecoderReader: reading through an io.Reader in small chunks gives the same
// elements as decoding the bytes, and fails where that fails (possibly with another
// error: with all bytes at hand lengths are checked against the input earlier).
func FuzzDecoderReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		want, werr := UnmarshalAll(in, fuzzLimits)
		d, err := NewDecoder(&chunkReader{b: in, n: 3}, fuzzLimits)
		if err != nil {
			t.Fatal(err)
		}
		var got []any
		var gerr error
		for {
			v, err := d.Decode()
			if err == io.EOF {
				break
			}
			if err != nil {
				gerr = err
				break
			}
			got = append(got, v)
		}
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("bytes: %v, reader: %v", werr, gerr)
		}
		if werr != nil {
			return
		}
		if !bytes.Equal(encodeAll(t, want), encodeAll(t, got)) {
			t.Fatal("reader decoded other values")
		}
	})
}

type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// FuzzModifiedUTF8: any Go string survives modified UTF-8 (invalid UTF-8 bytes become
// U+FFFD, unpaired surrogates in their 3-byte form are kept), the announced length is
// the written length, and plainASCII agrees with a byte-wise check.
func FuzzModifiedUTF8(f *testing.F) {
	for _, s := range []string{"", "abc", "\x00", "h\u00e9llo \U0001F600", "\xed\xa0\x80", "\xff", "\xed\xa0\x80\xed\xb0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, plain := mutf8Len(s)
		b := appendMUTF8(nil, s)
		if len(b) != n {
			t.Fatalf("length %d, wrote %d", n, len(b))
		}
		naive := true
		for i := 0; i < len(s); i++ {
			naive = naive && s[i] != 0 && s[i] < 0x80
		}
		if plain != naive || plainASCII([]byte(s)) != naive || (plain && string(b) != s) {
			t.Fatalf("plain %v/%v, naive %v", plain, plainASCII([]byte(s)), naive)
		}
		back, err := decodeMUTF8(b)
		if err != nil {
			t.Fatal(err)
		}
		if b2 := appendMUTF8(nil, back); !bytes.Equal(b, b2) {
			t.Fatalf("%q -> %x -> %q -> %x", s, b, back, b2)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("%q came back as %q", s, back)
		}
	})
}
