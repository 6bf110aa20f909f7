package jserial

import (
	"errors"
	"testing"
)

// TestEncoderRefusesDescriptorsJavaRejects: the encoder wrote class descriptors that
// ObjectInputStream refuses (each message below is Java 17's, reading the bytes Marshal
// wrote) and that this package's own decoder refuses too, so Marshal succeeded on a
// value no reader accepts. Both now share one check (ClassDesc.invalid): the encoder
// refuses such a descriptor with ErrType.
func TestEncoderRefusesDescriptorsJavaRejects(t *testing.T) {
	enumWithSUID := &ClassDesc{Name: "E", SUID: 7, Flags: SCSerializable | SCEnum, Super: EnumDesc}
	enumWithField := &ClassDesc{Name: "F", Flags: SCSerializable | SCEnum, Super: EnumDesc,
		Fields: []Field{{Type: 'I', Name: "n"}}}
	badOrder := &ClassDesc{Name: "Y", SUID: 1, Flags: SCSerializable, Fields: []Field{
		{Type: 'L', Name: "a", Signature: "Ljava/lang/String;"}, {Type: 'I', Name: "b"}}}
	ordered, err := NewObject(badOrder)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    any
	}{
		// InvalidClassException: X; serializable and externalizable flags conflict
		{"flags conflict", &Object{Class: &ClassDesc{Name: "X", SUID: 1, Flags: SCSerializable | SCExternalizable | SCBlockData}}},
		// InvalidClassException: Y; illegal field order
		{"primitive field after object field", ordered},
		// InvalidClassException: E; enum descriptor has non-zero serialVersionUID: 7
		{"enum with serialVersionUID", &Enum{Class: enumWithSUID, Name: "A"}},
		// InvalidClassException: F; enum descriptor has non-zero field count
		{"enum with fields", &Enum{Class: enumWithField, Name: "A"}},
	} {
		b, err := Marshal(c.v)
		if err != nil {
			if !errors.Is(err, ErrType) {
				t.Errorf("%s: %v, want ErrType", c.name, err)
			}
			continue // refused: fine
		}
		if _, err := Unmarshal(b); err != nil {
			t.Errorf("%s: Marshal wrote %x, which Unmarshal (and Java) refuses: %v", c.name, b, err)
		}
	}
}

// TestClassWithNullDescriptor: TC_CLASS followed by TC_NULL makes Java 17's
// ObjectInputStream.readClass throw NullPointerException ("Cannot invoke
// ObjectStreamClass.forClass() because desc is null"); the decoder accepted it as a
// *Class with a nil Desc, and the encoder wrote &Class{} as those bytes.
func TestClassWithNullDescriptor(t *testing.T) {
	if b, err := Marshal(&Class{}); err == nil {
		t.Errorf("Marshal(&Class{}) wrote %x (TC_CLASS TC_NULL), which Java refuses", b)
	} else if !errors.Is(err, ErrType) {
		t.Errorf("Marshal(&Class{}): %v, want ErrType", err)
	}
	if v, err := Unmarshal([]byte{0xAC, 0xED, 0, 5, tcClass, tcNull}); err == nil {
		t.Errorf("TC_CLASS TC_NULL decoded as %#v; Java refuses it", v)
	}
	if _, err := Unmarshal([]byte{0xAC, 0xED, 0, 5, tcClass, tcNull}); err != nil && !errors.Is(err, ErrMalformed) {
		t.Errorf("TC_CLASS TC_NULL: %v, want ErrMalformed", err)
	}
}

// TestDecoderRefusesDescriptorsJavaRejects: the streams the encoder wrote for the
// descriptors above (Java 17 refuses each, InvalidClassException) fail to decode with
// ErrMalformed.
func TestDecoderRefusesDescriptorsJavaRejects(t *testing.T) {
	for name, s := range map[string]string{
		"flags conflict": "aced0005737200015800000000000000010e0000787078",
		"primitive field after object field": "aced0005737200015900000000000000010200024c0001617400124c6a6176612f6c61" +
			"6e672f537472696e673b4900016278707000000000",
		"enum with serialVersionUID": "aced00057e7200014500000000000000071200007872000e6a6176612e6c616e672e456e" +
			"756d0000000000000000120000787074000141",
		"enum with fields": "aced00057e7200014600000000000000001200014900016e7872000e6a6176612e6c616e67" +
			"2e456e756d0000000000000000120000787074000141",
	} {
		if v, err := Unmarshal(hx(t, s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: decoded %#v, %v; want ErrMalformed", name, v, err)
		}
	}
}
