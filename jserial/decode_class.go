package jserial

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unsafe"
)

// classDescSize, fieldSize and entrySize are the bytes a ClassDesc, a Field and an
// Entry take.
const (
	classDescSize = int(unsafe.Sizeof(ClassDesc{}))
	fieldSize     = int(unsafe.Sizeof(Field{}))
	entrySize     = int(unsafe.Sizeof(Entry{}))
)

// classDesc reads a class descriptor: TC_CLASSDESC, TC_NULL or TC_REFERENCE.
func (d *Decoder) classDesc() (*ClassDesc, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	cd, err := d.classDesc1()
	d.depth--
	return cd, err
}

func (d *Decoder) classDesc1() (*ClassDesc, error) {
	tc, err := d.src.u8()
	if err != nil {
		return nil, err
	}
	switch tc {
	case tcNull:
		return nil, nil
	case tcReference:
		v, err := d.reference()
		if err != nil {
			return nil, err
		}
		cd, ok := v.(*ClassDesc)
		if !ok {
			return nil, d.failf(ErrMalformed, "reference to a %T where a class descriptor is expected", v)
		}
		return cd, nil
	case tcProxyClassDesc:
		return nil, d.fail(ErrUnsupported, "TC_PROXYCLASSDESC")
	case tcClassDesc:
	default:
		d.src.pos--
		return nil, d.failf(ErrUnknownTypeCode, "0x%02x where a class descriptor is expected", tc)
	}
	if m := d.peekJDK(); m != nil {
		return d.jdkDesc(m)
	}
	name, err := d.utf()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, d.fail(ErrMalformed, "empty class name")
	}
	suid, err := d.src.u64()
	if err != nil {
		return nil, err
	}
	// The descriptor (128 bytes for 17 at least) and its field list (40 bytes a field
	// of three) count in the stream's objects' budget
	// (TestElementArraysAndDescriptorsCharged).
	if err := d.chargeObject(classDescSize, name); err != nil {
		return nil, err
	}
	cd := &ClassDesc{Name: name, SUID: int64(suid)}
	h, err := d.newHandle(inProgress{})
	if err != nil {
		return nil, err
	}
	if cd.Flags, err = d.src.u8(); err != nil {
		return nil, err
	}
	nf, err := d.src.u16()
	if err != nil {
		return nil, err
	}
	if nf > 0 {
		// A field takes at least 3 bytes (type code and name length): claimed like an
		// array's elements, and given back as each is read. From an io.Reader, the list
		// waits for those bytes (count), then is allocated whole, as from bytes
		// (appended, it took 5 times its size).
		if _, err := d.count(int32(nf), 3, "field list"); err != nil {
			return nil, err
		}
		if err := d.chargeObject(int(nf)*fieldSize, name); err != nil {
			return nil, err
		}
		d.claim(3 * int(nf))
		cd.Fields = make([]Field, 0, nf)
		for range nf {
			d.unclaim(3)
			var f Field
			if f.Type, err = d.src.u8(); err != nil {
				return nil, err
			}
			if f.Name, err = d.utf(); err != nil {
				return nil, err
			}
			switch f.Type {
			case 'B', 'C', 'D', 'F', 'I', 'J', 'S', 'Z':
			case 'L', '[':
				if f.Signature, err = d.typeString(); err != nil {
					return nil, err
				}
			default:
				return nil, d.failf(ErrMalformed, "%s.%s: field type code 0x%02x", name, f.Name, f.Type)
			}
			cd.Fields = append(cd.Fields, f)
		}
	}
	if err := cd.invalid(); err != nil {
		return nil, d.fail(ErrMalformed, err.Error())
	}
	if cd.Annotation, err = d.annotation(); err != nil {
		return nil, err
	}
	if cd.Super, err = d.classDesc(); err != nil {
		return nil, err
	}
	c, err := canonical(cd)
	if err != nil {
		return nil, d.fail(ErrSUIDMismatch, err.Error())
	}
	if c == cd {
		cd.linkDataSuper()
	}
	d.handles[h] = c
	return c, nil
}

// invalid returns why Java's ObjectInputStream refuses the descriptor cd
// (ObjectStreamClass.readNonProxy and initNonProxy), or nil: the decoder refuses such a
// descriptor (ErrMalformed) and the encoder does not write it (ErrType). An object
// field's type comes from its signature's first character in Java, not from the type
// code in front of it, so a signature of another kind is refused too.
func (cd *ClassDesc) invalid() error {
	switch {
	case cd.Name == "":
		return errors.New("class descriptor without a name")
	case cd.Flags&SCSerializable != 0 && cd.Flags&SCExternalizable != 0:
		return fmt.Errorf("%s: serializable and externalizable flags conflict", cd.Name)
	case cd.Flags&SCEnum != 0 && len(cd.Fields) > 0:
		return fmt.Errorf("enum %s with fields", cd.Name)
	case cd.Flags&SCEnum != 0 && cd.SUID != 0:
		return fmt.Errorf("enum %s with serialVersionUID %d", cd.Name, cd.SUID)
	}
	seenObject := false
	for _, f := range cd.Fields {
		switch f.Type {
		case 'B', 'C', 'D', 'F', 'I', 'J', 'S', 'Z':
			if seenObject {
				return fmt.Errorf("%s: illegal field order", cd.Name)
			}
		case 'L', '[':
			seenObject = true
			if f.Signature == "" || (f.Signature[0] != 'L' && f.Signature[0] != '[') {
				return fmt.Errorf("%s.%s: object field with signature %q", cd.Name, f.Name, f.Signature)
			}
		default:
			return fmt.Errorf("%s.%s: field type code %q", cd.Name, f.Name, f.Type)
		}
	}
	return nil
}

// peekJDK returns the package's descriptor when the buffered input continues with
// exactly its bytes (up to the superclass), as the JVM writes them.
func (d *Decoder) peekJDK() *ClassDesc {
	rest := d.src.buf[d.src.pos:]
	if len(rest) < 2 {
		return nil
	}
	n := int(be16(rest))
	if len(rest) < 2+n {
		return nil
	}
	m := mappedDescs[string(rest[2:2+n])]
	if m == nil || m.wire == nil || !bytes.HasPrefix(rest, m.wire[1:]) {
		return nil
	}
	return m
}

// jdkDesc reads the rest of the JDK descriptor m found by peekJDK: no allocation for
// the common case.
func (d *Decoder) jdkDesc(m *ClassDesc) (*ClassDesc, error) {
	d.src.pos += len(m.wire) - 1
	h, err := d.newHandle(inProgress{})
	if err != nil {
		return nil, err
	}
	super, err := d.classDesc()
	if err != nil {
		return nil, err
	}
	cd := m
	if super != m.Super { // unusual: keep it generic
		if err := d.chargeObject(classDescSize+len(m.Fields)*fieldSize, m.Name); err != nil {
			return nil, err
		}
		cd = &ClassDesc{Name: m.Name, SUID: m.SUID, Flags: m.Flags, Fields: slices.Clone(m.Fields), Super: super}
		cd.linkDataSuper()
	}
	d.handles[h] = cd
	return cd, nil
}

// annotation reads BlockData and values up to TC_ENDBLOCKDATA.
func (d *Decoder) annotation() ([]any, error) { return d.annotationTo(nil) }

// annotationTo reads BlockData and values up to TC_ENDBLOCKDATA, appending them to out.
// A value may be one byte (a TC_NULL) where it takes 16: out grows by doubling, each
// array it grows to counted in the stream's objects' budget (chargeObject), so that an
// annotation of TC_NULLs allocates at most 64 bytes a byte while it is read and is
// refused with ErrLimit at the budget (TestAnnotationValuesBounded).
func (d *Decoder) annotationTo(out []any) ([]any, error) {
	for {
		tc, err := d.src.peek()
		if err != nil {
			return nil, err
		}
		if tc == tcEndBlockData {
			d.src.pos++
			return out, nil
		}
		v, err := d.content(true)
		if err != nil {
			return nil, err
		}
		if len(out) == cap(out) {
			size := max(1, 2*cap(out))
			if err := d.chargeObject(size*valueSize, "annotation"); err != nil {
				return nil, err
			}
			grown := make([]any, len(out), size)
			copy(grown, out)
			out = grown
		}
		out = append(out, v)
	}
}
