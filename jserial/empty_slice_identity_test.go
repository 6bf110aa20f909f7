package jserial

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestDistinctEmptyListsNotAliased: two distinct empty Go lists ([]any{} and
// make([]any, 0), the usual way to write an empty ArrayList: nil is null) have no
// backing memory of their own: both point at the runtime's zero-size base, so the
// encoder's identity key (data pointer, length, kind) makes the second a TC_REFERENCE
// to the first. Java then reads one ArrayList in both places (checked with Java 17:
// list.get(0) == list.get(1), and adding to the first also shows in the second). The
// decoder gives every list its own memory, so decoding shows the aliasing too. A slice
// of capacity 0 now has no identity.
func TestDistinctEmptyListsNotAliased(t *testing.T) {
	b, err := Marshal([]any{[]any{}, make([]any, 0)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	l := v.([]any)
	a, c := l[0].([]any), l[1].([]any)
	if unsafe.SliceData(a) == unsafe.SliceData(c) {
		t.Errorf("two distinct empty ArrayLists were written as one object (a back-reference): %x", b)
	}
}

// TestDecodedEmptySlicesKeepReferences: a stream holding one empty list, LinkedList and
// array twice (a back-reference) decodes to slices of capacity 1 or more, so it
// re-encodes to the same bytes, references and all.
func TestDecodedEmptySlicesKeepReferences(t *testing.T) {
	l, ll, b, i := make([]any, 0, 1), make(LinkedList, 0, 1), make([]byte, 0, 1), make([]int32, 0, 1)
	in, err := Marshal([]any{l, l, ll, ll, b, b, i, i})
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(in, []byte{tcReference, 0, 0x7E}); n < 4 {
		t.Fatalf("%d back-references in %x, want at least 4", n, in)
	}
	v, err := Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in, out) {
		t.Errorf("re-encoded with other references:\nin  %x\nout %x", in, out)
	}
}
