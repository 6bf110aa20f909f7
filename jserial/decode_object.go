package jserial

import (
	"math"
	"unsafe"
)

// slotSize is the bytes a Slot takes.
const slotSize = int(unsafe.Sizeof(Slot{}))

func (d *Decoder) object() (any, error) {
	cd, err := d.classDesc()
	if err != nil {
		return nil, err
	}
	if cd == nil {
		return nil, d.fail(ErrMalformed, "object without class descriptor")
	}
	if cd.Flags&SCEnum != 0 || cd.Name[0] == '[' {
		return nil, d.failf(ErrMalformed, "TC_OBJECT of class %s", cd.Name)
	}
	if cd.kind != kindNone {
		return d.mapped(cd)
	}
	o := &Object{Class: cd}
	if err := d.chargeObject(int(unsafe.Sizeof(Object{})), cd.Name); err != nil {
		return nil, err
	}
	if _, err := d.newHandle(o); err != nil {
		return nil, err
	}
	if cd.Flags&SCExternalizable != 0 {
		if cd.Flags&SCBlockData == 0 {
			return nil, d.failf(ErrUnsupported, "%s: externalizable data without SC_BLOCK_DATA", cd.Name)
		}
		if o.External, err = d.annotation(); err != nil {
			return nil, err
		}
		return o, nil
	}
	if cd.Flags&SCSerializable == 0 {
		return nil, d.failf(ErrMalformed, "%s is neither serializable nor externalizable", cd.Name)
	}
	// The classes with data are those along dataSuper: n of them, whose data takes at
	// least least bytes (a byte a field, more for a primitive one, and one for a
	// writeObject method's end). Those bytes are claimed before any slot is allocated,
	// so that objects nested in the first field leave room for the rest.
	n, least, nvals, leastVals := 0, 0, 0, 0
	for c := cd; c != nil; c = c.dataSuper {
		if c.hasData() {
			n++
			least += minData(c)
			if c.Flags&SCWriteMethod == 0 {
				nvals += len(c.Fields)
				leastVals += minFieldData(c)
			}
		}
	}
	if rem := d.src.knownRemaining(); rem >= 0 && least > rem-d.claimed {
		return nil, d.fits(1, least, cd.Name+" data") // the name built only for the error
	}
	d.claim(least)
	// A Slot takes 32 bytes and a class's data at least a byte: the n slots are
	// allocated at once, a slot for a byte of the data, and never grown (no array left
	// to the collector). From input given whole those bytes are there (fits); from an
	// io.Reader, when the slots are more than may be allocated ahead of the data (at
	// most 1024, and as many as the bytes claimed pay for at an Object[] element's rate,
	// 16 bytes a byte, 8 at least), the bytes are received first, as for the values
	// (valueArray). What the slots take counts in the stream's objects' budget
	// (chargeObject).
	if d.src.r != nil && n > min(d.prealloc(n), max(8, 16*least/slotSize)) {
		if err := d.src.need(least); err != nil {
			return nil, err
		}
	}
	if err := d.chargeObject(n*slotSize, cd.Name); err != nil {
		return nil, err
	}
	o.Slots = make([]Slot, n)
	// The field values of the classes without a writeObject method share one array,
	// each slot's Values a part of it (a writeObject method's annotation follows the
	// values of its class: theirs have slices of their own).
	vals, err := d.valueArray(nvals, leastVals, cd.Name)
	if err != nil {
		return nil, err
	}
	i := n - 1 // filled superclass first
	for c := cd; c != nil; c = c.dataSuper {
		if c.hasData() {
			o.Slots[i].Class = c
			i--
		}
	}
	for i := range o.Slots {
		sl := &o.Slots[i]
		c := sl.Class
		if c.Flags&SCWriteMethod != 0 {
			if sl.Values, err = d.writeObjectData(c); err != nil {
				return nil, err
			}
			continue
		}
		if nf := len(c.Fields); nf > 0 {
			sl.Values, vals = vals[:nf:nf], vals[nf:]
			if err := d.fieldValues(c, sl.Values); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

// minData is the fewest bytes the data of class c in an object takes: its fields' values
// (minFieldData) and a writeObject method's TC_ENDBLOCKDATA.
func minData(c *ClassDesc) int {
	n := minFieldData(c)
	if c.Flags&SCWriteMethod != 0 {
		n++
	}
	return n
}

// minFieldData is the fewest bytes the values of class c's fields take: a primitive's
// size, at least a byte (a TC_NULL) an object field.
func minFieldData(c *ClassDesc) int {
	n := 0
	for _, f := range c.Fields {
		n += max(primSize(f.Type), 1)
	}
	return n
}

// valueSize is the bytes a field's value takes in its slice.
const valueSize = int(unsafe.Sizeof(any(nil)))

// valueArray allocates n field values, whose fewest bytes (least) object claimed,
// counting them in the stream's objects' budget (chargeObject). When the input is not
// known whole and n is more than is allocated ahead of the data (prealloc), those bytes
// are received first, so that the values are allocated only for data that is there, as
// for the input given whole.
func (d *Decoder) valueArray(n, least int, what string) ([]any, error) {
	if n == 0 {
		return nil, nil
	}
	if d.prealloc(n) < n {
		if err := d.src.need(least); err != nil {
			return nil, err
		}
	}
	if err := d.chargeObject(n*valueSize, what); err != nil {
		return nil, err
	}
	return make([]any, n), nil
}

// fieldValues reads the values of c's fields, whose bytes object claimed, into vals
// (one for each field).
func (d *Decoder) fieldValues(c *ClassDesc, vals []any) error {
	for i, f := range c.Fields {
		var err error
		d.unclaim(max(primSize(f.Type), 1))
		if f.Type == 'L' || f.Type == '[' {
			vals[i], err = d.content(false)
		} else {
			vals[i], err = d.prim(f.Type)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeObjectData reads the data of class c with a writeObject method, whose fewest
// bytes object claimed: its field values, then what the method wrote after them, up to
// its TC_ENDBLOCKDATA.
func (d *Decoder) writeObjectData(c *ClassDesc) ([]any, error) {
	vals, err := d.valueArray(len(c.Fields), minFieldData(c), c.Name)
	if err != nil {
		return nil, err
	}
	if err := d.fieldValues(c, vals); err != nil {
		return nil, err
	}
	if vals, err = d.annotationTo(vals); err != nil {
		return nil, err
	}
	d.unclaim(1) // its TC_ENDBLOCKDATA, read last
	return vals, nil
}

func primSize(t byte) int {
	switch t {
	case 'B', 'Z':
		return 1
	case 'C', 'S':
		return 2
	case 'I', 'F':
		return 4
	case 'J', 'D':
		return 8
	}
	return 0
}

func (d *Decoder) prim(t byte) (any, error) {
	b, err := d.src.take(primSize(t))
	if err != nil {
		return nil, err
	}
	return primFrom(t, b), nil
}

func primFrom(t byte, b []byte) any {
	switch t {
	case 'B':
		return int8(b[0])
	case 'Z':
		return b[0] != 0
	case 'C':
		return Char(be16(b))
	case 'S':
		return int16(be16(b))
	case 'I':
		return int32(be32(b))
	case 'F':
		return math.Float32frombits(be32(b))
	case 'J':
		return int64(be64(b))
	case 'D':
		return math.Float64frombits(be64(b))
	}
	return nil
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }

func (d *Decoder) enum() (any, error) {
	cd, err := d.classDesc()
	if err != nil {
		return nil, err
	}
	if cd == nil || cd.Flags&SCEnum == 0 {
		return nil, d.fail(ErrMalformed, "TC_ENUM of a non-enum class")
	}
	if err := d.chargeObject(int(unsafe.Sizeof(Enum{})), cd.Name); err != nil {
		return nil, err
	}
	e := &Enum{Class: cd}
	if _, err := d.newHandle(e); err != nil {
		return nil, err
	}
	v, err := d.content(false)
	if err != nil {
		return nil, err
	}
	s, ok := v.(string)
	if !ok {
		return nil, d.failf(ErrMalformed, "enum constant name is %T", v)
	}
	e.Name = s
	return e, nil
}
