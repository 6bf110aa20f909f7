package jserial

import (
	"math"
	"math/big"
	"time"
	"unsafe"
)

// The custom data of the mapped JDK classes, exactly as their writeObject methods
// write it.

// expect consumes the exact bytes want (used for the custom data of mapped classes).
func (d *Decoder) expect(what string, want ...byte) error {
	b, err := d.src.take(len(want))
	if err != nil {
		return err
	}
	for i := range want {
		if b[i] != want[i] {
			return d.failf(ErrMalformed, "%s: unexpected custom data", what)
		}
	}
	return nil
}

// blockHeader consumes the header of a TC_BLOCKDATA of exactly n bytes.
func (d *Decoder) blockHeader(what string, n byte) error {
	return d.expect(what, tcBlockData, n)
}

// mapped reads the data of an object of a mapped JDK class.
func (d *Decoder) mapped(cd *ClassDesc) (any, error) {
	switch cd.kind {
	case kindInteger, kindLong, kindBoolean, kindShort, kindByte, kindCharacter, kindFloat, kindDouble:
		h, err := d.newHandle(inProgress{})
		if err != nil {
			return nil, err
		}
		v, err := d.prim(cd.Fields[0].Type)
		if err != nil {
			return nil, err
		}
		d.handles[h] = v
		return v, nil
	case kindUUID:
		h, err := d.newHandle(inProgress{})
		if err != nil {
			return nil, err
		}
		b, err := d.src.take(16)
		if err != nil {
			return nil, err
		}
		var u UUID
		copy(u[:8], b[8:]) // fields: leastSigBits, mostSigBits
		copy(u[8:], b[:8])
		d.handles[h] = u
		return u, nil
	case kindDate:
		h, err := d.newHandle(inProgress{})
		if err != nil {
			return nil, err
		}
		if err := d.blockHeader(cd.Name, 8); err != nil {
			return nil, err
		}
		ms, err := d.src.u64()
		if err != nil {
			return nil, err
		}
		if err := d.expect(cd.Name, tcEndBlockData); err != nil {
			return nil, err
		}
		t := time.UnixMilli(int64(ms)).UTC()
		d.handles[h] = t
		return t, nil
	case kindArrayList, kindLinkedList:
		return d.list(cd)
	case kindHashMap, kindLinkedHashMap, kindTreeMap:
		return d.mapValue(cd)
	case kindHashSet, kindLinkedHashSet:
		return d.set(cd)
	case kindBigInteger:
		return d.bigInteger()
	case kindBigDecimal:
		return d.bigDecimal()
	}
	return nil, d.failf(ErrMalformed, "TC_OBJECT of class %s", cd.Name)
}

// elems reads n values.
func (d *Decoder) elems(n int32, what string) ([]any, error) {
	c, err := d.count(n, 1, what)
	if err != nil {
		return nil, err
	}
	// 16 bytes an element that may take a byte, counted in the stream's objects' budget
	// (TestElementArraysAndDescriptorsCharged).
	if err := d.chargeObject(max(c, 1)*valueSize, what); err != nil {
		return nil, err
	}
	out := make([]any, 0, max(c, 1))
	d.claim(int(n))
	for i := int32(0); i < n; i++ {
		d.unclaim(1)
		v, err := d.content(false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *Decoder) list(cd *ClassDesc) (any, error) {
	h, err := d.newHandle(inProgress{})
	if err != nil {
		return nil, err
	}
	var size int32
	if cd.kind == kindArrayList {
		f, err := d.src.u32()
		if err != nil {
			return nil, err
		}
		size = int32(f)
	}
	if err := d.blockHeader(cd.Name, 4); err != nil {
		return nil, err
	}
	n, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	if cd.kind == kindArrayList && int32(n) != size {
		return nil, d.failf(ErrMalformed, "ArrayList size %d, capacity %d", size, int32(n))
	}
	elems, err := d.elems(int32(n), cd.Name)
	if err != nil {
		return nil, err
	}
	if err := d.expect(cd.Name, tcEndBlockData); err != nil {
		return nil, err
	}
	var v any = elems
	if cd.kind == kindLinkedList {
		v = LinkedList(elems)
	}
	d.handles[h] = v
	return v, nil
}

func (d *Decoder) entries(n int32, what string) ([]Entry, error) {
	c, err := d.count(n, 2, what)
	if err != nil {
		return nil, err
	}
	// 32 bytes an entry that may take two, counted in the stream's objects' budget.
	if err := d.chargeObject(c*entrySize, what); err != nil {
		return nil, err
	}
	out := make([]Entry, 0, c)
	d.claim(2 * int(n))
	for i := int32(0); i < n; i++ {
		d.unclaim(1)
		k, err := d.content(false)
		if err != nil {
			return nil, err
		}
		d.unclaim(1)
		v, err := d.content(false)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{k, v})
	}
	return out, nil
}

func (d *Decoder) mapValue(cd *ClassDesc) (any, error) {
	// The Map, Set or Enum a value decodes to counts in the stream's objects' budget, as
	// an Object does (TestMapSetEnumStructsCharged).
	if err := d.chargeObject(int(unsafe.Sizeof(Map{})), cd.Name); err != nil {
		return nil, err
	}
	m := &Map{}
	h, err := d.newHandle(inProgress{})
	if err != nil {
		return nil, err
	}
	if cd.kind == kindTreeMap {
		m.Class = TreeMap
		if m.Comparator, err = d.content(false); err != nil {
			return nil, err
		}
		if err := d.blockHeader(cd.Name, 4); err != nil {
			return nil, err
		}
	} else {
		if cd.kind == kindLinkedHashMap {
			m.Class = LinkedHashMap
		}
		lf, err := d.src.u32()
		if err != nil {
			return nil, err
		}
		th, err := d.src.u32()
		if err != nil {
			return nil, err
		}
		m.LoadFactor, m.Threshold = math.Float32frombits(lf), int32(th)
		if err := d.blockHeader(cd.Name, 8); err != nil {
			return nil, err
		}
		c, err := d.src.u32()
		if err != nil {
			return nil, err
		}
		m.Capacity = int32(c)
	}
	n, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	if m.Entries, err = d.entries(int32(n), cd.Name); err != nil {
		return nil, err
	}
	if err := d.expect(cd.Name, tcEndBlockData); err != nil {
		return nil, err
	}
	if cd.kind == kindLinkedHashMap {
		b, err := d.src.u8()
		if err != nil {
			return nil, err
		}
		m.AccessOrder = b != 0
	}
	d.handles[h] = m
	return m, nil
}

func (d *Decoder) set(cd *ClassDesc) (any, error) {
	if err := d.chargeObject(int(unsafe.Sizeof(Set{})), cd.Name); err != nil {
		return nil, err
	}
	s := &Set{}
	if cd.kind == kindLinkedHashSet {
		s.Class = LinkedHashSet
	}
	h, err := d.newHandle(inProgress{})
	if err != nil {
		return nil, err
	}
	if err := d.blockHeader(cd.Name, 12); err != nil {
		return nil, err
	}
	c, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	lf, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	n, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	s.Capacity, s.LoadFactor = int32(c), math.Float32frombits(lf)
	if s.Elems, err = d.elems(int32(n), cd.Name); err != nil {
		return nil, err
	}
	if err := d.expect(cd.Name, tcEndBlockData); err != nil {
		return nil, err
	}
	d.handles[h] = s
	return s, nil
}

func (d *Decoder) bigInteger() (any, error) {
	h, err := d.newHandle(inProgress{})
	if err != nil {
		return nil, err
	}
	// bitCount, bitLength, firstNonzeroByteNum, lowestSetBit: Java ignores them.
	if _, err := d.src.take(16); err != nil {
		return nil, err
	}
	signum, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	mv, err := d.content(false)
	if err != nil {
		return nil, err
	}
	mag, ok := mv.([]byte)
	if !ok {
		return nil, d.failf(ErrMalformed, "BigInteger magnitude is %T", mv)
	}
	if err := d.expect("java.math.BigInteger", tcEndBlockData); err != nil {
		return nil, err
	}
	z := new(big.Int).SetBytes(mag)
	switch s := int32(signum); {
	case s < -1 || s > 1 || (s == 0) != (z.Sign() == 0):
		return nil, d.failf(ErrMalformed, "BigInteger signum %d for magnitude % x", s, mag)
	case s < 0:
		z.Neg(z)
	}
	d.handles[h] = z
	return z, nil
}

func (d *Decoder) bigDecimal() (any, error) {
	bd := &BigDecimal{}
	h, err := d.newHandle(inProgress{})
	if err != nil {
		return nil, err
	}
	sc, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	bd.Scale = int32(sc)
	iv, err := d.content(false)
	if err != nil {
		return nil, err
	}
	z, ok := iv.(*big.Int)
	if !ok {
		return nil, d.failf(ErrMalformed, "BigDecimal intVal is %T", iv)
	}
	bd.Unscaled = z
	if err := d.expect("java.math.BigDecimal", tcEndBlockData); err != nil {
		return nil, err
	}
	d.handles[h] = bd
	return bd, nil
}
