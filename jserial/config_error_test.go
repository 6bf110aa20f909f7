package jserial

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// A configuration no Decoder or Encoder can run with (a negative limit, a nil reader or
// writer) is an error wrapping ErrInvalidConfig, as in the project's other packages, so
// that a caller can tell it from a stream's error; it was a plain error no sentinel
// matched.
func TestInvalidConfigIsErrInvalidConfig(t *testing.T) {
	bad := []DecoderConfig{{MaxDepth: -1}, {MaxHandles: -1}, {MaxArrayLen: -1}, {MaxBytes: -1}}
	stream, err := Marshal("x")
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want an error wrapping ErrInvalidConfig", what, err)
		}
	}
	for _, cfg := range bad {
		check(t, "Validate", cfg.Validate())
		_, err := NewDecoder(bytes.NewReader(stream), cfg)
		check(t, "NewDecoder", err)
		_, err = UnmarshalConfig(stream, cfg)
		check(t, "UnmarshalConfig", err)
		_, err = UnmarshalAll(stream, cfg)
		check(t, "UnmarshalAll", err)
	}
	if err := (DecoderConfig{}).Validate(); err != nil {
		t.Errorf("Validate of the zero DecoderConfig (every default): %v", err)
	}
	_, err = NewDecoder(nil, DecoderConfig{})
	check(t, "NewDecoder(nil reader)", err)
	_, err = NewEncoder(io.Discard, EncoderConfig{MaxDepth: -1})
	check(t, "NewEncoder(negative MaxDepth)", err)
	_, err = NewEncoder(nil, EncoderConfig{})
	check(t, "NewEncoder(nil writer)", err)
}
