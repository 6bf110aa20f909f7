package jserial

import (
	"math"
	"math/big"
)

// contents writes an annotation (BlockData and values) and TC_ENDBLOCKDATA.
func (s *encState) contents(a []any) error {
	for _, v := range a {
		if b, ok := v.(BlockData); ok {
			s.blockData(b)
			continue
		}
		if err := s.value(v); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) list(cd *ClassDesc, k refKey, elems []any) error {
	if s.ref(k) {
		return nil
	}
	s.object(cd, k)
	if cd.kind == kindArrayList {
		s.u32(uint32(len(elems)))
	}
	s.buf = append(s.buf, tcBlockData, 4)
	s.u32(uint32(len(elems)))
	for _, v := range elems {
		if err := s.value(v); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) entries(es []Entry) error {
	s.u32(uint32(len(es)))
	for _, e := range es {
		if err := s.value(e.Key); err != nil {
			return err
		}
		if err := s.value(e.Value); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) mapValue(m *Map) error {
	k := ptrKey(m)
	if s.ref(k) {
		return nil
	}
	switch m.Class {
	case TreeMap:
		s.object(treeMapDesc, k)
		if err := s.value(m.Comparator); err != nil {
			return err
		}
		s.buf = append(s.buf, tcBlockData, 4)
		return s.entries(m.Entries)
	case HashMap, LinkedHashMap:
		cd := hashMapDesc
		if m.Class == LinkedHashMap {
			cd = linkedHashMapDesc
		}
		s.object(cd, k)
		lf, th, c := m.LoadFactor, m.Threshold, m.Capacity
		if lf == 0 {
			lf = 0.75
		}
		if c == 0 {
			c = hashCapacity(len(m.Entries))
			if th == 0 && len(m.Entries) > 0 {
				th = int32(float32(c) * lf)
			}
		}
		s.u32(math.Float32bits(lf))
		s.u32(uint32(th))
		s.buf = append(s.buf, tcBlockData, 8)
		s.u32(uint32(c))
		if err := s.entries(m.Entries); err != nil {
			return err
		}
		if m.Class == LinkedHashMap {
			s.buf = append(s.buf, boolByte(m.AccessOrder))
		}
		return nil
	}
	return typeErr("Map class %d", m.Class)
}

func (s *encState) set(x *Set) error {
	k := ptrKey(x)
	if s.ref(k) {
		return nil
	}
	switch x.Class {
	case HashSet:
		s.object(hashSetDesc, k)
	case LinkedHashSet:
		s.object(linkedHashSetDesc, k)
	default:
		return typeErr("Set class %d", x.Class)
	}
	c, lf := x.Capacity, x.LoadFactor
	if c == 0 {
		c = hashCapacity(len(x.Elems))
	}
	if lf == 0 {
		lf = 0.75
	}
	s.buf = append(s.buf, tcBlockData, 12)
	s.u32(uint32(c))
	s.u32(math.Float32bits(lf))
	s.u32(uint32(len(x.Elems)))
	for _, v := range x.Elems {
		if err := s.value(v); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) bigInteger(z *big.Int) error {
	k := ptrKey(z)
	if s.ref(k) {
		return nil
	}
	s.object(bigIntegerDesc, k)
	s.u32(0xFFFFFFFF) // bitCount, bitLength: -1; firstNonzeroByteNum, lowestSetBit: -2
	s.u32(0xFFFFFFFF)
	s.u32(0xFFFFFFFE)
	s.u32(0xFFFFFFFE)
	s.u32(uint32(int32(z.Sign())))
	mag := z.Bytes()
	s.arrayHead(bytesDesc, refKey{}, len(mag))
	s.write(mag)
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) bigDecimal(x *BigDecimal) error {
	k := ptrKey(x)
	if s.ref(k) {
		return nil
	}
	if x.Unscaled == nil {
		return typeErr("BigDecimal without Unscaled")
	}
	s.object(bigDecimalDesc, k)
	s.u32(uint32(x.Scale))
	if err := s.value(x.Unscaled); err != nil {
		return err
	}
	s.buf = append(s.buf, tcEndBlockData)
	return nil
}

func (s *encState) enum(x *Enum) error {
	k := ptrKey(x)
	if s.ref(k) {
		return nil
	}
	if x.Class == nil || x.Class.Flags&SCEnum == 0 {
		return typeErr("enum %s: descriptor without SCEnum", x.Name)
	}
	s.buf = append(s.buf, tcEnum)
	if err := s.classDesc(x.Class); err != nil {
		return err
	}
	s.assign(k)
	s.str(x.Name)
	return nil
}
