package jserial

import (
	"math"
	"unsafe"
)

// arraySize is the bytes an Array takes.
const arraySize = int(unsafe.Sizeof(Array{}))

func (d *Decoder) array() (any, error) {
	cd, err := d.classDesc()
	if err != nil {
		return nil, err
	}
	if cd == nil || len(cd.Name) < 2 || cd.Name[0] != '[' {
		return nil, d.fail(ErrMalformed, "TC_ARRAY without an array class descriptor")
	}
	l, err := d.src.u32()
	if err != nil {
		return nil, err
	}
	et := cd.Name[1]
	size := primSize(et)
	if cd.kind != kindNone {
		// Its decoded size is its size on the wire: MaxBytes bounds it (DecoderConfig).
		if err := d.fits(int32(l), size, "array"); err != nil {
			return nil, err
		}
		// The elements are read (source.need grows with the data received) before
		// the result is allocated.
		return d.primArray(cd.kind, int(l))
	}
	isObj := et == 'L' || et == '['
	if !isObj && size == 0 {
		return nil, d.failf(ErrMalformed, "array class %s", cd.Name)
	}
	minSize := max(size, 1)
	n, err := d.count(int32(l), minSize, "array")
	if err != nil {
		return nil, err
	}
	// The Array and its elements (16 bytes each, for elements that may take a byte)
	// count in the stream's objects' budget (TestElementArraysAndDescriptorsCharged).
	if err := d.chargeObject(arraySize, cd.Name); err != nil {
		return nil, err
	}
	if err := d.chargeObject(n*valueSize, cd.Name); err != nil {
		return nil, err
	}
	a := &Array{Class: cd, Elems: make([]any, 0, n)}
	if _, err := d.newHandle(a); err != nil {
		return nil, err
	}
	d.claim(int(l) * minSize)
	for i := 0; i < int(int32(l)); i++ {
		d.unclaim(minSize)
		var v any
		if isObj {
			v, err = d.content(false)
		} else {
			v, err = d.prim(et)
		}
		if err != nil {
			return nil, err
		}
		a.Elems = append(a.Elems, v)
	}
	return a, nil
}

// primArray reads n elements of a primitive array with the JDK descriptor. Every
// decoded array has its own memory (an empty one too), for the same reason as strings.
func (d *Decoder) primArray(k kind, n int) (any, error) {
	var v any
	switch k {
	case kindBytes:
		b, err := d.src.take(n)
		if err != nil {
			return nil, err
		}
		v = append(make([]byte, 0, max(n, 1)), b...)
	case kindBools:
		b, err := d.src.take(n)
		if err != nil {
			return nil, err
		}
		a := make([]bool, n, max(n, 1))
		for i := range a {
			a[i] = b[i] != 0
		}
		v = a
	case kindShorts, kindChars:
		b, err := d.src.take(2 * n)
		if err != nil {
			return nil, err
		}
		if k == kindShorts {
			a := make([]int16, n, max(n, 1))
			for i := range a {
				a[i] = int16(be16(b[2*i:]))
			}
			v = a
		} else {
			a := make([]Char, n, max(n, 1))
			for i := range a {
				a[i] = Char(be16(b[2*i:]))
			}
			v = a
		}
	case kindInts, kindFloats:
		b, err := d.src.take(4 * n)
		if err != nil {
			return nil, err
		}
		if k == kindInts {
			a := make([]int32, n, max(n, 1))
			for i := range a {
				a[i] = int32(be32(b[4*i:]))
			}
			v = a
		} else {
			a := make([]float32, n, max(n, 1))
			for i := range a {
				a[i] = math.Float32frombits(be32(b[4*i:]))
			}
			v = a
		}
	case kindLongs, kindDoubles:
		b, err := d.src.take(8 * n)
		if err != nil {
			return nil, err
		}
		if k == kindLongs {
			a := make([]int64, n, max(n, 1))
			for i := range a {
				a[i] = int64(be64(b[8*i:]))
			}
			v = a
		} else {
			a := make([]float64, n, max(n, 1))
			for i := range a {
				a[i] = math.Float64frombits(be64(b[8*i:]))
			}
			v = a
		}
	default:
		return nil, d.fail(ErrMalformed, "array of a non-array class")
	}
	if _, err := d.newHandle(v); err != nil {
		return nil, err
	}
	return v, nil
}
