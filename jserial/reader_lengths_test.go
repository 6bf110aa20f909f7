package jserial

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/allocbound"
)

// readerLengths are streams whose arrays, lists and maps announce more elements than
// is allocated ahead of the data from an io.Reader (1024): each nested 900 deep in its
// parent's first element, all announcing 1024 elements and the stream ending there
// (10 to 24 bytes a level), and one of 300 000 TC_NULLs (a 16-byte element a byte).
func readerLengths(t *testing.T) [][]byte {
	t.Helper()
	marshal := func(v any) []byte {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const n = 1024
	array := marshal(&Array{Class: ObjectArrayDesc, Elems: make([]any, n)})
	list := marshal(make([]any, n))
	hashMap := marshal(&Map{Entries: make([]Entry, n)})
	ref := []byte{tcReference, 0, 0x7e, 0, 0}
	nest := func(whole []byte, data, head int, tc byte) []byte {
		b := bytes.Clone(whole[:len(whole)-data])
		level := append(append([]byte{tc}, ref...), whole[len(whole)-data-head:len(whole)-data]...)
		for range 900 {
			b = append(b, level...)
		}
		return b
	}
	return [][]byte{
		nest(array, n, 4, tcArray),         // its length
		nest(list, n+1, 10, tcObject),      // size, block header, count
		nest(hashMap, 2*n+1, 18, tcObject), // load factor, threshold, block header, capacity, size
		marshal(&Array{Class: ObjectArrayDesc, Elems: make([]any, 300_000)}),
		marshal(make([]any, 300_000)),
		marshal(&Map{Entries: make([]Entry, 150_000)}),
	}
}

// TestLengthsBoundedFromReader: arrays, lists and maps read from an io.Reader allocate
// at most decodeBound, decoded or refused, as from bytes (TestNestedLengthsBounded).
// Before, 1024 elements of each were allocated ahead of their data, however deeply they
// nested in one another's first element (a 9 KB stream of arrays 900 deep allocated
// 16.7 MB, 1 844 times it), and the rest appended, each growth by a quarter leaving the
// last array to the collector (300 000 TC_NULLs in an array: 94 times).
func TestLengthsBoundedFromReader(t *testing.T) {
	inputs := readerLengths(t)
	for _, in := range inputs {
		if _, err := UnmarshalAll(in, DecoderConfig{}); err != nil && !errors.Is(err, ErrTruncated) {
			t.Fatalf("from bytes: %v", err)
		}
	}
	for _, chunk := range []int{3, 4096} {
		r := allocbound.Check(t, decodeBound, inputs, func(b []byte) {
			d, err := NewDecoder(&chunkReader{b: b, n: chunk}, DecoderConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Decode(); err != nil && !errors.Is(err, ErrTruncated) {
				t.Errorf("%d bytes from a Reader: %v", len(b), err)
			}
		})
		t.Logf("from a Reader in chunks of %d: %.1f times at worst", chunk, r.Ratio)
	}
}

// TestReaderClaimsBalance: from an io.Reader, where an array's or collection's length
// now waits for the bytes the enclosing elements announce too, nothing is left claimed
// after an element of the golden streams, and an element decodes once its own bytes have
// arrived, without waiting for the next one.
func TestReaderClaimsBalance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.ser"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no streams: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDecoder(&chunkReader{b: b, n: 3}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; ; n++ {
			if _, err := d.Decode(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s: element %d: %v", f, n, err)
			}
			if d.claimed != 0 {
				t.Fatalf("%s: %d bytes still claimed after element %d", f, d.claimed, n)
			}
		}
	}
	one, err := Marshal([]any{[]any{nil, "a"}, &Array{Class: ObjectArrayDesc, Elems: make([]any, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pr.Close()
	d, err := NewDecoder(pr, DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = pw.Write(one) }() // and no more: the next element never comes
	done := make(chan error, 1)
	go func() { _, err := d.Decode(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Decode waited for more than its element's bytes")
	}
}
