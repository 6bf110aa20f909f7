package jserial

import (
	"bytes"
	"fmt"
	"slices"
	"unsafe"
)

// typeString writes a field signature: shared with an earlier signature of the same
// value (Java interns them) or with the very same string value written before.
func (s *encState) typeString(x string) {
	k := refKey{p: uintptr(unsafe.Pointer(unsafe.StringData(x))), n: int64(len(x)), k: kindString}
	if s.ref(k) {
		return
	}
	if h, ok := s.types[x]; ok {
		s.buf = append(s.buf, tcReference)
		s.u32(uint32(baseWireHandle + h))
		return
	}
	s.types[x] = s.next
	s.newString(x, k)
}

func (s *encState) classDesc(cd *ClassDesc) error {
	if cd == nil {
		s.buf = append(s.buf, tcNull)
		return nil
	}
	k := ptrKey(cd)
	if len(s.open) > 0 && slices.Contains(s.open, cd) {
		// Its handle is assigned, but a back-reference to it would be to a descriptor
		// still being read, as the decoder refuses (TestCyclicDescriptorEncodes).
		return fmt.Errorf("%w: class %s is its own superclass or in its own annotation", ErrCycle, cd.Name)
	}
	if s.ref(k) {
		return nil
	}
	if h, ok := s.equalDesc(cd); ok {
		// A descriptor equal to one written (a value decoded from a stream of its own
		// has descriptors of its own): ObjectOutputStream writes a class once.
		s.handles.put(k, h)
		s.buf = append(s.buf, tcReference)
		s.u32(uint32(baseWireHandle + h))
		return nil
	}
	s.depth++
	if s.depth > s.maxDepth {
		s.depth--
		return fmt.Errorf("%w: class descriptors nested deeper than MaxDepth %d", ErrLimit, s.maxDepth)
	}
	s.open = append(s.open, cd)
	h := s.next
	err := s.newClassDesc(cd, k)
	s.open = s.open[:len(s.open)-1]
	s.depth--
	if err == nil {
		s.written(cd, h)
	}
	return err
}

// writtenDesc is a class descriptor written whole, with its handle.
type writtenDesc struct {
	cd *ClassDesc
	h  int32
}

// written records cd, written whole with handle h, for equalDesc. Only a descriptor
// written whole is recorded: one still being written cannot be referred to.
func (s *encState) written(cd *ClassDesc, h int32) {
	if len(cd.Annotation) > 0 {
		return // what annotateClass wrote is not compared
	}
	if s.descs == nil {
		s.descs = map[string][]writtenDesc{}
	}
	s.descs[cd.Name] = append(s.descs[cd.Name], writtenDesc{cd, h})
}

// equalDesc returns the handle of a descriptor written before that is equal to cd: the
// same class name, serialVersionUID, flags and fields, no annotation, and an equal
// superclass. Java resolves a descriptor to its class by those, so a reader cannot tell
// a reference to the earlier one from cd written again.
func (s *encState) equalDesc(cd *ClassDesc) (int32, bool) {
	if len(cd.Annotation) > 0 {
		return 0, false
	}
	for _, w := range s.descs[cd.Name] {
		if sameDesc(cd, w.cd) {
			return w.h, true
		}
	}
	return 0, false
}

// sameDesc reports whether a and b are equal descriptors without annotations. b was
// written whole, so its superclass chain ends and the recursion with it.
func sameDesc(a, b *ClassDesc) bool {
	for {
		if a == b {
			return true
		}
		if a == nil || b == nil || a.Name != b.Name || a.SUID != b.SUID || a.Flags != b.Flags || a.kind != b.kind ||
			len(a.Annotation) > 0 || len(b.Annotation) > 0 || !slices.Equal(a.Fields, b.Fields) || !bytes.Equal(a.wire, b.wire) {
			return false
		}
		a, b = a.Super, b.Super
	}
}

func (s *encState) newClassDesc(cd *ClassDesc, k refKey) error {
	if cd.wire != nil { // a JDK descriptor without object fields: constant bytes
		s.write(cd.wire)
		s.assign(k)
		return s.classDesc(cd.Super)
	}
	if err := cd.invalid(); err != nil {
		return fmt.Errorf("%w: %w", ErrType, err)
	}
	if len(cd.Fields) > 0xFFFF {
		return typeErr("%s: %d fields", cd.Name, len(cd.Fields))
	}
	s.buf = append(s.buf, tcClassDesc)
	if err := s.utf(cd.Name); err != nil {
		return err
	}
	s.u64(uint64(cd.SUID))
	s.assign(k)
	s.buf = append(s.buf, cd.Flags)
	s.u16(uint16(len(cd.Fields)))
	for _, f := range cd.Fields {
		s.buf = append(s.buf, f.Type)
		if err := s.utf(f.Name); err != nil {
			return err
		}
		if f.Type == 'L' || f.Type == '[' {
			s.typeString(f.Signature)
		}
	}
	if err := s.contents(cd.Annotation); err != nil {
		return err
	}
	return s.classDesc(cd.Super)
}

func className(c *ClassDesc) string {
	if c == nil {
		return "<nil>"
	}
	return c.Name
}

// dataChain is ClassDesc.dataChain, computed once per descriptor and element.
func (s *encState) dataChain(cd *ClassDesc) ([]*ClassDesc, error) {
	if c, ok := s.chains[cd]; ok {
		return c, nil
	}
	c, err := cd.dataChain()
	if err != nil {
		return nil, err
	}
	if s.chains == nil {
		s.chains = map[*ClassDesc][]*ClassDesc{}
	}
	s.chains[cd] = c
	return c, nil
}
