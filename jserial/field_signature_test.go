package jserial

import (
	"errors"
	"testing"
)

// TestFieldSignatureTypeMismatch: Java builds a stream field from its signature
// (new ObjectStreamField(name, signature, false) switches on signature.charAt(0)), not
// from the type code in front of it. A field with type code 'L' and signature "I" is an
// int field to ObjectInputStream, which reads 4 bytes for it: for the stream below, Java
// 17 reads T{x=1946157377} (0x74000141; checked with a class T { int x; }). This decoder
// read an object there instead and returned x = "A": a Go node and a Java node disagreed
// about the same message. It refuses the descriptor (ErrMalformed).
func TestFieldSignatureTypeMismatch(t *testing.T) {
	in := []byte{0xAC, 0xED, 0, 5,
		tcObject, tcClassDesc, 0, 1, 'T', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable, 0, 1,
		'L', 0, 1, 'x', tcString, 0, 1, 'I', // field x: type code L, signature "I"
		tcEndBlockData, tcNull,
		tcString, 0, 1, 'A'} // its value: Java reads int 0x74000141
	v, err := Unmarshal(in)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%v, want ErrMalformed", err)
		}
		return // refused: fine
	}
	x, _ := v.(*Object).Field("x")
	if x != int32(0x74000141) {
		t.Errorf("field with type code 'L' and signature \"I\" decoded as %T %#v; Java reads int %d", x, x, int32(0x74000141))
	}
}

// TestEncoderFieldSignatureTypeMismatch: the encoder side of the same gap. It
// wrote a field with type code 'L' and signature "I" and an object for its value;
// ObjectInputStream reads an int there (the stream above is what Marshal writes here).
func TestEncoderFieldSignatureTypeMismatch(t *testing.T) {
	cd := &ClassDesc{Name: "T", SUID: 1, Flags: SCSerializable, Fields: []Field{{Type: 'L', Name: "x", Signature: "I"}}}
	o, err := NewObject(cd)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.SetField("x", "A"); err != nil {
		t.Fatal(err)
	}
	if b, err := Marshal(o); err == nil {
		t.Errorf("Marshal wrote %x: a field of type code 'L' with signature \"I\", which Java reads as an int", b)
	} else if !errors.Is(err, ErrType) {
		t.Errorf("Marshal: %v, want ErrType", err)
	}
}
