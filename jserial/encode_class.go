package jserial

import (
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
	s.depth++
	if s.depth > s.maxDepth {
		s.depth--
		return fmt.Errorf("%w: class descriptors nested deeper than MaxDepth %d", ErrLimit, s.maxDepth)
	}
	s.open = append(s.open, cd)
	err := s.newClassDesc(cd, k)
	s.open = s.open[:len(s.open)-1]
	s.depth--
	return err
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
