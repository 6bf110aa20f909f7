package jserial

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// nestedFieldLists returns class descriptors nested depth deep, each announcing nf
// fields whose first, an object field, has the next descriptor where its type signature
// belongs, then 3*nf bytes of padding: enough for one field list's minimum, not for
// depth of them.
func nestedFieldLists(depth, nf int) []byte {
	b := header()
	for range depth {
		b = append(b, tcClassDesc, 0, 1, 'A', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable)
		b = binary.BigEndian.AppendUint16(b, uint16(nf))
		b = append(b, 'L', 0, 1, 'f') // field 0; its signature is the next level
	}
	b = append(b, tcString, 0, 1, 'x')
	return append(b, make([]byte, 3*nf)...)
}

// A class descriptor's field list is checked to fit in the input (three bytes a field
// at least), its bytes are claimed as an array's, and from an io.Reader at most 1024
// fields are allocated ahead of them; a field's type signature is only a string or a
// reference to one (as Java's readTypeString), so no descriptor nests there. Before,
// a descriptor in the first field's type signature was checked against the same bytes
// again at every level: 60 levels of 20000 fields in 59 KiB allocated 45 MiB, and the
// default MaxDepth allowed 1.3 GB from 210 KiB. The package documents that nesting does
// not multiply what is allocated ahead of the data (TestNestedLengthsBounded: at most
// 32 times the input).
func TestFieldListsBounded(t *testing.T) {
	in := nestedFieldLists(60, 20000)
	for _, viaReader := range []bool{false, true} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var err error
		if viaReader {
			d, _ := NewDecoder(bytes.NewReader(in), DecoderConfig{})
			_, err = d.Decode()
		} else {
			_, err = Unmarshal(in)
		}
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatal("decoded")
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 32*uint64(len(in))+1<<20 {
			t.Errorf("reader %v: %d MiB allocated for %d KiB of input, %.0f times its size (%v)",
				viaReader, grew>>20, len(in)>>10, float64(grew)/float64(len(in)), err)
		}
	}
}

// A field's type signature is read as Java's readTypeString reads it: an element other
// than TC_STRING, TC_LONGSTRING or TC_REFERENCE (here a class descriptor) fails where it
// starts, before it is read.
func TestTypeSignatureOnlyString(t *testing.T) {
	in := nestedFieldLists(2, 1)
	at := int64(len(header()) + 13 + 2 + 4) // the second descriptor's TC_CLASSDESC
	_, err := Unmarshal(in)
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrMalformed) || de.Offset != at {
		t.Fatalf("got %v, want ErrMalformed at offset %d", err, at)
	}
}
