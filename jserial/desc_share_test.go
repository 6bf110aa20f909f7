package jserial

import (
	"bytes"
	"errors"
	"testing"
)

// pointDesc returns a new descriptor of com.example.Point { int x; int y } with super
// com.example.Shape { String name }, suid the Point's serialVersionUID.
func pointDesc(suid int64) *ClassDesc {
	shape := &ClassDesc{Name: "com.example.Shape", SUID: 1, Flags: SCSerializable,
		Fields: []Field{{Type: 'L', Name: "name", Signature: "Ljava/lang/String;"}}}
	return &ClassDesc{Name: "com.example.Point", SUID: suid, Flags: SCSerializable, Super: shape,
		Fields: []Field{{Type: 'I', Name: "x"}, {Type: 'I', Name: "y"}}}
}

func sharedPoint(t *testing.T, d *ClassDesc, x int32) *Object {
	t.Helper()
	o, err := NewObject(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"x", x}, {"y", x + 1}, {"name", "p"}} {
		if err := o.SetField(f.name, f.v); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// Objects whose descriptors are distinct but equal (each decoded from a stream of its
// own) share the descriptor in one stream, as ObjectOutputStream writes a class once:
// the class name is written once, and the stream decodes to the same values. A
// descriptor that differs (another serialVersionUID, an annotation) is written again.
func TestEncoderSharesEqualDescriptors(t *testing.T) {
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, EncoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// A value that fails after writing a Point descriptor: the descriptor is forgotten
	// with it, and is not referred to later.
	if err := enc.Encode([]any{sharedPoint(t, pointDesc(1), 0), 5}); !errors.Is(err, ErrType) {
		t.Fatalf("Encode of a Go int: %v, want ErrType", err)
	}
	annotated := pointDesc(1)
	annotated.Annotation = []any{BlockData{1}}
	values := []any{sharedPoint(t, pointDesc(1), 1), sharedPoint(t, pointDesc(1), 2), []any{sharedPoint(t, pointDesc(1), 3)},
		sharedPoint(t, pointDesc(2), 4), sharedPoint(t, pointDesc(2), 5), sharedPoint(t, annotated, 6)}
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	// SUID 1, SUID 2 and the annotated one; the Shape superclass once.
	if n := bytes.Count(buf.Bytes(), []byte("com.example.Point")); n != 3 {
		t.Errorf("com.example.Point written %d times, want 3", n)
	}
	if n := bytes.Count(buf.Bytes(), []byte("com.example.Shape")); n != 1 {
		t.Errorf("com.example.Shape written %d times, want 1", n)
	}
	got, err := UnmarshalAll(buf.Bytes(), DecoderConfig{})
	if err != nil {
		t.Fatalf("%v\n% x", err, buf.Bytes())
	}
	if len(got) != len(values) {
		t.Fatalf("%d values, want %d", len(got), len(values))
	}
	for i, v := range got {
		if l, ok := v.([]any); ok {
			v = l[0]
		}
		o := v.(*Object)
		x, _ := o.Field("x")
		want := values[i]
		if l, ok := want.([]any); ok {
			want = l[0]
		}
		w := want.(*Object)
		wx, _ := w.Field("x")
		if x != wx || o.Class.SUID != w.Class.SUID || len(o.Class.Annotation) != len(w.Class.Annotation) {
			t.Errorf("value %d decodes as %s %d x=%v, want %d x=%v", i, o.Class.Name, o.Class.SUID, x, w.Class.SUID, wx)
		}
	}
}
