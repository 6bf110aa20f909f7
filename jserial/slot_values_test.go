package jserial

import (
	"errors"
	"reflect"
	"testing"
	"unsafe"
)

// TestSlotValuesAndAnnotation: a decoded object's slots hold their field values, then
// for a class with a writeObject method what it wrote (Fields, Annotation); the slots of
// classes without one share one array, each slot's part capped so that appending to it
// does not write over the next slot's values; SetAnnotation copies, and the encoder
// refuses values beyond the fields of a class without a writeObject method.
func TestSlotValuesAndAnnotation(t *testing.T) {
	v, err := Unmarshal(golden(t, "serializable"))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*Object)
	want := point()
	if len(o.Slots) != 2 || o.Slots[1].Class.Flags&SCWriteMethod == 0 {
		t.Fatalf("slots %+v", o.Slots)
	}
	wp := want.Slots[1]
	if got := o.Slots[1]; !equalSlices(got.Fields(), wp.Fields()) || !equalSlices(got.Annotation(), wp.Annotation()) ||
		len(got.Fields()) != 4 || len(got.Annotation()) == 0 || len(got.Values) != 4+len(got.Annotation()) {
		t.Fatalf("Point slot: fields %v annotation %v; want %v %v", got.Fields(), got.Annotation(), wp.Fields(), wp.Annotation())
	}
	if len(o.Slots[0].Annotation()) != 0 || len(o.Slots[0].Fields()) != 2 {
		t.Fatalf("Base slot: %v", o.Slots[0].Values)
	}

	// Three classes of a boolean each: their values are parts of one array.
	v, err = Unmarshal(deepObjects(3, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*Object)
	if len(d.Slots) != 3 || cap(d.Slots[0].Values) != 1 ||
		unsafe.Add(unsafe.Pointer(&d.Slots[0].Values[0]), valueSize) != unsafe.Pointer(&d.Slots[1].Values[0]) {
		t.Fatalf("slots %+v do not share one array", d.Slots)
	}
	d.Slots[0].Values = append(d.Slots[0].Values, "appended")
	if d.Slots[1].Values[0] != true || len(d.Slots[1].Values) != 1 {
		t.Fatalf("appending to a slot's values changed the next: %v", d.Slots[1].Values)
	}
	if _, err := Marshal(d); !errors.Is(err, ErrType) {
		t.Fatalf("Marshal of a value beyond the fields of a class without writeObject: %v, want ErrType", err)
	}

	// SetAnnotation keeps the fields and copies what it is given.
	sl := &o.Slots[1]
	fields := sl.Fields()
	ann := []any{BlockData{1, 2}, "x"}
	sl.SetAnnotation(ann)
	ann[1] = "changed"
	if !reflect.DeepEqual(sl.Fields(), fields) || !reflect.DeepEqual(sl.Annotation(), []any{BlockData{1, 2}, "x"}) {
		t.Fatalf("after SetAnnotation: fields %v annotation %v", sl.Fields(), sl.Annotation())
	}
	b, err := Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.(*Object).Slots[1]; !equalSlices(got.Values, sl.Values) {
		t.Fatalf("re-read %v, want %v", got.Values, sl.Values)
	}
	sl.SetAnnotation(nil)
	if len(sl.Values) != 4 || len(sl.Annotation()) != 0 {
		t.Fatalf("after SetAnnotation(nil): %v", sl.Values)
	}
}
