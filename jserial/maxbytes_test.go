package jserial

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// Input given whole that is longer than MaxBytes ("bounds the length of the whole
// stream") is cut at MaxBytes before decoding (Decoder.init); the end of the cut buffer
// is not the end of the stream. Before, when MaxBytes fell on an element boundary,
// UnmarshalAll returned the elements before the cut and no error, silently dropping the
// rest, and Unmarshal accepted a stream with data after its element. Cut anywhere
// else, the same input fails with ErrLimit. Both must fail.
func TestInputBeyondMaxBytesFails(t *testing.T) {
	one, err := Marshal("x")
	if err != nil {
		t.Fatal(err)
	}
	// Three elements: "x", null, null.
	in := append(append([]byte(nil), one...), tcNull, tcNull)

	all, err := UnmarshalAll(in, DecoderConfig{MaxBytes: int64(len(in) - 2)})
	if err == nil {
		t.Errorf("UnmarshalAll of a %d-byte stream of 3 elements with MaxBytes %d: %d element(s) %q and no error; want ErrLimit",
			len(in), len(in)-2, len(all), all)
	} else if !errors.Is(err, ErrLimit) {
		t.Errorf("UnmarshalAll beyond MaxBytes: %v, want ErrLimit", err)
	}
	if _, err := UnmarshalAll(in, DecoderConfig{MaxBytes: int64(len(in) - 3)}); !errors.Is(err, ErrLimit) {
		t.Errorf("UnmarshalAll cut inside an element: %v, want ErrLimit", err)
	}

	if _, err := UnmarshalConfig(in, DecoderConfig{MaxBytes: int64(len(in))}); !errors.Is(err, ErrTrailingData) {
		t.Fatalf("within MaxBytes: %v, want ErrTrailingData", err)
	}
	if v, err := UnmarshalConfig(in, DecoderConfig{MaxBytes: int64(len(one))}); err == nil {
		t.Errorf("UnmarshalConfig of a %d-byte stream (one element and 2 bytes after it) with MaxBytes %d: %q and no error; want ErrLimit or ErrTrailingData",
			len(in), len(one), v)
	}
}

// From an io.Reader, a stream exactly MaxBytes long decodes its element and the next
// Decode returns io.EOF, as UnmarshalAll accepts it: at MaxBytes the decoder asks the
// reader for one more byte before it reports ErrLimit (before, it returned ErrLimit
// without trying).
func TestReaderStreamOfExactlyMaxBytes(t *testing.T) {
	in, err := Marshal("x")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DecoderConfig{MaxBytes: int64(len(in))}
	if _, err := UnmarshalAll(in, cfg); err != nil {
		t.Fatalf("UnmarshalAll: %v", err)
	}
	d, err := NewDecoder(bytes.NewReader(in), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := d.Decode(); err != nil || v != "x" {
		t.Fatalf("Decode: %v, %v", v, err)
	}
	if _, err := d.Decode(); err != io.EOF {
		t.Fatalf("Decode at the end of a stream of exactly MaxBytes (%d): %v, want io.EOF", len(in), err)
	}
}
