package jserial

import (
	"bytes"
	"runtime"
	"testing"
	"weak"
)

// TestResetReleasesHandles: TC_RESET exists so that a long-lived stream's reader
// drops what it no longer needs (Java's HandleTable.clear nulls every entry). The
// Decoder truncated its handle table (d.handles = d.handles[:0]) without clearing it,
// so the objects decoded before the reset stayed reachable from the table's backing
// array for as long as the Decoder lived and later elements took fewer handles.
func TestResetReleasesHandles(t *testing.T) {
	var enc bytes.Buffer
	e, err := NewEncoder(&enc, EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{[]any{make([]byte, 1<<20), make([]byte, 1<<20)}, Reset{}, int64(1000)} {
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	d, err := NewDecoder(bytes.NewReader(enc.Bytes()), DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := d.Decode()
	if err != nil {
		t.Fatal(err)
	}
	big := first.([]any)[1].([]byte)
	w := weak.Make(&big[0])
	first, big = nil, nil
	for range 2 {
		if _, err := d.Decode(); err != nil { // Reset, then the Long
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
	if w.Value() != nil {
		t.Errorf("a 1 MiB byte[] decoded before TC_RESET is still reachable from the Decoder")
	}
	runtime.KeepAlive(d)
}
