package jserial

import (
	"reflect"
	"testing"
)

// TestSetAnnotationOnALiteralSlotKeepsTheFields: SetAnnotation on a slot built by hand
// whose Values do not hold every field yet (a literal Slot{Class: c}) put the annotation
// where the field values go, so Fields returned it, Annotation returned nothing, and
// Marshal wrote the annotation's values as the fields' and no annotation. The missing
// field values are now zero values (null for object fields), as NewObject gives them,
// and the annotation follows them.
func TestSetAnnotationOnALiteralSlotKeepsTheFields(t *testing.T) {
	c := &ClassDesc{Name: "example.Custom", SUID: 1, Flags: SCSerializable | SCWriteMethod,
		Fields: []Field{{Type: 'L', Name: "a", Signature: "Ljava/lang/String;"}, {Type: 'L', Name: "b", Signature: "Ljava/lang/String;"}}}
	sl := Slot{Class: c}
	sl.SetAnnotation([]any{"x", "y"})
	if got := sl.Fields(); !reflect.DeepEqual(got, []any{nil, nil}) {
		t.Errorf("fields after SetAnnotation: %v, want [<nil> <nil>]", got)
	}
	if got := sl.Annotation(); !reflect.DeepEqual(got, []any{"x", "y"}) {
		t.Errorf("annotation after SetAnnotation: %v, want [x y]", got)
	}
	b, err := Marshal(&Object{Class: c, Slots: []Slot{sl}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	back := v.(*Object).Slots[0]
	if !reflect.DeepEqual(back.Fields(), []any{nil, nil}) || !reflect.DeepEqual(back.Annotation(), []any{"x", "y"}) {
		t.Errorf("re-read fields %v annotation %v, want [<nil> <nil>] [x y]", back.Fields(), back.Annotation())
	}
}
