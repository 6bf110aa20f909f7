package jserial

import (
	"errors"
	"testing"
)

func TestFields(t *testing.T) {
	desc := &ClassDesc{Name: "x.Y", SUID: 1, Flags: SCSerializable, Fields: []Field{
		{Type: 'I', Name: "n"}, {Type: 'L', Name: "s", Signature: "Ljava/lang/String;"}}}
	o, err := NewObject(desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.SetField("n", int32(7)); err != nil {
		t.Fatal(err)
	}
	f := Fields{Object: o}
	if n, s := FieldAs[int32](&f, "n"), FieldAs[string](&f, "s"); n != 7 || s != "" || f.Err != nil {
		t.Fatalf("n %d, s %q (null), err %v", n, s, f.Err)
	}
	if FieldAs[string](&f, "n"); !errors.Is(f.Err, ErrType) {
		t.Errorf("an int read as a string: %v", f.Err)
	}
	g := Fields{Object: o}
	if g.Get("missing"); !errors.Is(g.Err, ErrType) {
		t.Errorf("a missing field: %v", g.Err)
	}
	if FieldAs[int32](&g, "n"); g.Err == nil || !errors.Is(g.Err, ErrType) {
		t.Errorf("the first failure is kept: %v", g.Err)
	}
}
