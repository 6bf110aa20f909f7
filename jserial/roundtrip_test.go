package jserial

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%#v): %v", v, err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("Unmarshal(Marshal(%#v)): %v\n%x", v, err, b)
	}
	b2, err := Marshal(got)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("second Marshal differs (%v):\n%x\n%x", err, b, b2)
	}
	return got
}

func TestRoundTripValues(t *testing.T) {
	enumDesc := NewEnumDesc("java.util.concurrent.TimeUnit")
	point := &ClassDesc{Name: "demo.Point", SUID: 1, Flags: SCSerializable, Fields: []Field{
		{Type: 'I', Name: "x"}, {Type: 'L', Name: "label", Signature: "Ljava/lang/String;"}}}
	p, _ := NewObject(point)
	_ = p.SetField("x", int32(7))
	_ = p.SetField("label", "seven")
	for _, v := range []any{
		nil, "", "héllo \x00 wörld 😀", true, false, int8(-3), int16(300), Char('z'), int32(1 << 20), int64(-1 << 40),
		float32(1.5), float64(-2.25), []byte{1, 2, 3}, []byte{}, []int32{1, -1}, []int64{5}, []int16{-2}, []Char{'a'},
		[]bool{true, false}, []float32{0.5}, []float64{3}, []any{"a", int32(1), nil}, LinkedList{int64(2)},
		UUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, time.UnixMilli(1700000000123).UTC(),
		big.NewInt(-123456789), new(big.Int), &BigDecimal{Unscaled: big.NewInt(31415), Scale: 4},
		&Map{Entries: []Entry{{"a", int32(1)}, {"b", []any{"x"}}}, LoadFactor: 0.75, Threshold: 12, Capacity: 16},
		&Map{Class: TreeMap, Entries: []Entry{{"k", "v"}}},
		&Map{Class: LinkedHashMap, Entries: []Entry{{int32(1), int32(2)}}, LoadFactor: 0.75, Threshold: 12, Capacity: 16},
		&Set{Elems: []any{"x", "y"}, Capacity: 16, LoadFactor: 0.75},
		&Enum{Class: enumDesc, Name: "SECONDS"}, &Class{Desc: point}, p,
		&Array{Class: StringArrayDesc, Elems: []any{"a", nil, "a"}},
	} {
		got := roundTrip(t, v)
		if !reflect.DeepEqual(normal(got), normal(v)) {
			t.Errorf("round trip of %#v gave %#v", v, got)
		}
	}
}

// normal makes values comparable with DeepEqual (big.Int internals, empty slices).
func normal(v any) any {
	switch x := v.(type) {
	case *big.Int:
		return x.String()
	case *BigDecimal:
		return [2]any{x.Unscaled.String(), x.Scale}
	case []byte:
		return append([]byte{}, x...)
	}
	return v
}

func TestBackReferences(t *testing.T) {
	shared := []byte{9}
	s := string([]byte("same")) // one string value, written twice
	list := []any{s, s, "same" + string([]byte{}), shared, shared, int32(5), int32(5), int32(500), int32(500)}
	b, err := Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, list) {
		t.Fatalf("got %#v", got)
	}
	// References: s, shared, Integer 5 (cached by valueOf; 500 is not) and the Integer
	// descriptor for each 500.
	if n := bytes.Count(b, []byte{tcReference, 0, 0x7e}); n != 5 {
		t.Errorf("%d back-references in %x", n, b)
	}
}

func TestSelfReferencingObject(t *testing.T) {
	node := &ClassDesc{Name: "demo.Node", SUID: 1, Flags: SCSerializable, Fields: []Field{{Type: 'L', Name: "next", Signature: "Ldemo/Node;"}}}
	n, _ := NewObject(node)
	_ = n.SetField("next", n)
	got := roundTrip(t, n).(*Object)
	if next, _ := got.Field("next"); next != got {
		t.Fatal("cycle lost")
	}
}

func TestCyclicListIsAnError(t *testing.T) {
	// An ArrayList that contains itself: TC_REFERENCE to the list inside it.
	b, _ := Marshal([]any{"x"})
	i := bytes.Index(b, []byte{tcString, 0, 1, 'x'})
	cyc := append(append(bytes.Clone(b[:i]), tcReference, 0, 0x7e, 0, 1), b[i+4:]...)
	_, err := Unmarshal(cyc)
	if !errors.Is(err, ErrCycle) {
		t.Fatalf("got %v", err)
	}
}

func TestDataReaderWriter(t *testing.T) {
	var w DataWriter
	big := bytes.Repeat([]byte{7}, 2500)
	w.WriteInt16(-2)
	w.WriteChar('é')
	w.WriteInt8(-1)
	w.WriteFloat32(1.5)
	w.WriteFloat64(-0.25)
	w.WriteInt64(-1 << 40)
	_, _ = w.Write(big)
	w.WriteObject("obj")
	_ = w.WriteUTF("\x00é")
	c := w.Contents()
	// Blocks of at most 1024 bytes, as ObjectOutputStream writes them, closed by the object.
	var sizes []int
	for _, v := range c {
		if b, ok := v.(BlockData); ok {
			sizes = append(sizes, len(b))
		}
	}
	if want := []int{1024, 1024, 2 + 2 + 1 + 4 + 8 + 8 + 2500 - 2048, 2 + 4}; !reflect.DeepEqual(sizes, want) {
		t.Fatalf("blocks %v, want %v", sizes, want)
	}
	if err := w.WriteUTF(strings.Repeat("x", 70000)); !errors.Is(err, ErrType) {
		t.Fatalf("long writeUTF: %v", err)
	}
	r := NewDataReader(c)
	if v, _ := r.ReadInt16(); v != -2 {
		t.Fatal(v)
	}
	if v, _ := r.ReadChar(); v != 'é' {
		t.Fatal(v)
	}
	if v, _ := r.ReadInt8(); v != -1 {
		t.Fatal(v)
	}
	if v, _ := r.ReadFloat32(); v != 1.5 {
		t.Fatal(v)
	}
	if v, _ := r.ReadFloat64(); v != -0.25 {
		t.Fatal(v)
	}
	if v, _ := r.ReadInt64(); v != -1<<40 {
		t.Fatal(v)
	}
	if _, err := r.ReadObject(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("object read inside block data: %v", err)
	}
	got, err := io.ReadAll(r) // the rest of the block data, then io.EOF at the object
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	if v, err := r.ReadObject(); v != "obj" || err != nil {
		t.Fatal(v, err)
	}
	if s, err := r.ReadUTF(); s != "\x00é" || err != nil {
		t.Fatalf("%q %v", s, err)
	}
	if !r.Done() {
		t.Fatal("not done")
	}
	if _, err := r.ReadInt32(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("read past the end: %v", err)
	}
	if _, err := r.ReadObject(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("object past the end: %v", err)
	}
}

// An object of a long hierarchy whose classes write a byte each has its slots allocated
// and read a group at a time (decode_object.go): every slot holds its own class and
// data, superclass first, from a byte slice and from an io.Reader (groups of at most
// 1024). The descriptors are written first, each referring to the one before as its
// superclass, as nested descriptors would exceed MaxDepth.
func TestLongHierarchyRoundTrip(t *testing.T) {
	const n = 2500
	var list []any
	var c *ClassDesc
	for i := range n {
		c = &ClassDesc{Name: fmt.Sprintf("C%d", i), SUID: int64(i), Flags: SCSerializable, Super: c}
		if i%3 == 0 {
			c.Flags |= SCWriteMethod
		} else {
			c.Fields = []Field{{Type: 'B', Name: "b"}}
		}
		list = append(list, c)
	}
	o, err := NewObject(c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range o.Slots {
		if len(o.Slots[i].Values) > 0 {
			o.Slots[i].Values[0] = int8(i)
		} else {
			o.Slots[i].SetAnnotation([]any{BlockData{byte(i)}})
		}
	}
	list = append(list, o)
	b, err := Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	check := func(how string, v any) {
		t.Helper()
		l, ok := v.([]any)
		if !ok || len(l) != n+1 {
			t.Fatalf("%s: decoded %T", how, v)
		}
		got := l[n].(*Object)
		if len(got.Slots) != n {
			t.Fatalf("%s: %d slots, want %d", how, len(got.Slots), n)
		}
		for i, sl := range got.Slots {
			f, wf := sl.Fields(), o.Slots[i].Fields()
			if sl.Class.Name != fmt.Sprintf("C%d", i) || len(f) != len(wf) || len(f) > 0 && f[0] != wf[0] ||
				!reflect.DeepEqual(sl.Annotation(), o.Slots[i].Annotation()) {
				t.Fatalf("%s: slot %d is %s %v %v, want C%d %v %v", how, i, sl.Class.Name, sl.Values, sl.Annotation(),
					i, o.Slots[i].Values, o.Slots[i].Annotation())
			}
		}
		if b2, err := Marshal(v); err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%s: re-encoded differs (%v)", how, err)
		}
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	check("Unmarshal", v)
	d, err := NewDecoder(bytes.NewReader(b), DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err = d.Decode(); err != nil {
		t.Fatal(err)
	}
	check("Decoder", v)
}
