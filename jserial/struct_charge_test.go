package jserial

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

// structStreams returns makers of the values whose structs decoding allocates beside
// their elements: HashMaps, TreeMaps, HashSets (empty) and enum constants.
func structStreams() map[string]func() any {
	color := &ClassDesc{Name: "Color", Flags: SCSerializable | SCEnum, Super: EnumDesc}
	return map[string]func() any{
		"HashMap":       func() any { return &Map{} },
		"LinkedHashMap": func() any { return &Map{Class: LinkedHashMap} },
		"TreeMap":       func() any { return &Map{Class: TreeMap} },
		"HashSet":       func() any { return &Set{} },
		"LinkedHashSet": func() any { return &Set{Class: LinkedHashSet} },
		"Enum":          func() any { return &Enum{Class: color, Name: "RED"} },
	}
}

// encodeMany is the stream of n values that mk makes, its header included.
func encodeMany(t *testing.T, n int, mk func() any) []byte {
	t.Helper()
	var b bytes.Buffer
	e, err := NewEncoder(&b, EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := e.Encode(mk()); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestMapSetEnumStructsCharged: the Map, Set and Enum a HashMap, TreeMap, HashSet or
// enum constant decodes to count in the stream's objects' budget, as an Object does:
// what each is charged is what decoding it allocates (an empty HashMap was charged 0
// bytes and allocated 64, a HashSet 16 and 64, an enum constant 0 and 24), and a stream
// of them beside objects that fill the budget allocates at most decodeBound (56 times
// plus 128 KiB), decoded or refused with ErrLimit, whole or from a Reader.
func TestMapSetEnumStructsCharged(t *testing.T) {
	allocbound.WithoutRace(t)
	for name, mk := range structStreams() {
		if charged, allocated := objectCharge(t, encodeMany(t, 2, mk)); charged != allocated {
			t.Errorf("an empty %s: charged %d bytes, allocated %d", name, charged, allocated)
		}
	}

	const objects = 1 << 20 / 258
	filler := len(budgetFiller(objects, 0))
	var inputs [][]byte
	for name, mk := range structStreams() {
		one := len(encodeMany(t, 2, mk)) - len(encodeMany(t, 1, mk))
		for _, f := range []float64{0.30, 0.38, 0.46} {
			b := encodeMany(t, int(f*float64(filler))/one, mk)
			d, err := newBytesDecoder(b, DecoderConfig{})
			if err != nil {
				t.Fatal(err)
			}
			for err == nil {
				_, err = d.Decode()
			}
			if err != io.EOF {
				t.Fatalf("%s: %v", name, err)
			}
			inputs = append(inputs, append(b, budgetFiller(objects, len(d.handles))...))
		}
	}
	r := allocbound.Check(t, decodeBound, inputs, func(b []byte) {
		if _, err := UnmarshalAll(b, DecoderConfig{}); err != nil && !errors.Is(err, ErrLimit) {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	})
	t.Logf("whole: %.1f times at worst", r.Ratio)
	r = allocbound.Check(t, decodeBound, inputs, func(b []byte) {
		d, err := NewDecoder(&chunkReader{b: b, n: 4096}, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := d.Decode(); err != nil {
				if !errors.Is(err, ErrLimit) && err != io.EOF {
					t.Errorf("%d bytes from a Reader: %v", len(b), err)
				}
				return
			}
		}
	})
	t.Logf("from a Reader: %.1f times at worst", r.Ratio)
}
