// Package gobcheck walks an encoding/gob stream before gob decodes it, so that a stream
// from another node cannot make the decoder allocate for counts it does not hold.
package gobcheck

import (
	"errors"
	"fmt"
)

// encoding/gob sizes a map for the count it reads before it reads the entries
// (reflect.MakeMapWithSize), and checks that count against nothing: a replicated
// attribute value of 64 bytes announcing a map of 2^31 entries would make the node that
// reads it allocate gigabytes and die. Code that decodes gob from other nodes
// (session/delta's GobCodec, session/scsstore for scs's GobCodec) therefore walks the
// stream first, as gob's decoder will read it for one value (Check), and refuses one that
// announces more elements than its bytes can hold (every element takes at least one);
// gob's own checks cover strings, byte slices and slices.

// Bounds of the walk: nesting (gob itself stops ignored values at 10 000) and type
// definitions in one stream.
const (
	maxGobDepth = 1000
	maxGobTypes = 1 << 12
)

// Errors of Check. Use errors.Is.
var (
	// ErrCount: the stream announces more elements than it holds, or nests deeper than
	// the walk follows.
	ErrCount = errors.New("gob value announces more elements than it holds")
	// ErrMalformed: the stream is not one encoding/gob's encoder writes.
	ErrMalformed = errors.New("gob value is not one encoding/gob writes")
)

// Gob's predefined type ids (encoding/gob's documentation).
const (
	gobBool      = 1
	gobInt       = 2
	gobUint      = 3
	gobFloat     = 4
	gobBytes     = 5
	gobString    = 6
	gobComplex   = 7
	gobInterface = 8
	// The first id a stream may define (encoding/gob's firstUserId).
	gobFirstUserID = 64
)

// gobType is what the walk needs of a type a stream defines (a wireType).
type gobType struct {
	kind      byte // 'a'rray, 's'lice, 't' struct, 'm'ap, 'e'ncoder (opaque bytes)
	elem, key int
	len       int
	fields    []int // a struct's field type ids
}

// gobWalk follows gob's Decoder: buf is the message being read, rest the messages after
// it (an interface value may define its types in the next ones).
type gobWalk struct {
	buf, rest []byte
	types     map[int]gobType
	depth     int
}

// Check reports whether the gob stream b, read for one value (what one Encoder.Encode
// wrote, type definitions included), is one the walk follows to its end announcing no
// more elements than it holds. Its errors wrap ErrCount or ErrMalformed.
func Check(b []byte) (err error) {
	w := gobWalk{rest: b, types: map[int]gobType{}}
	defer func() {
		if r := recover(); r != nil {
			werr, ok := r.(gobWalkError)
			if !ok {
				panic(r)
			}
			err = werr.err
		}
	}()
	id := w.typeSequence(false)
	w.value(id)
	return nil
}

// gobWalkError carries a failure of the walk up through its recursion.
type gobWalkError struct{ err error }

func (w *gobWalk) fail(format string, args ...any) {
	panic(gobWalkError{fmt.Errorf("%w: "+format, append([]any{ErrCount}, args...)...)})
}

// stop ends the walk refusing the stream: it is not one gob's encoder writes (truncated,
// or a construct the walk does not know), so that no stream reaches gob that the walk
// did not follow to its end.
func (w *gobWalk) stop() { panic(gobWalkError{ErrMalformed}) }

func (w *gobWalk) uint() uint64 {
	if len(w.buf) == 0 {
		w.stop()
	}
	b := w.buf[0]
	w.buf = w.buf[1:]
	if b <= 0x7f {
		return uint64(b)
	}
	n := -int(int8(b))
	if n > 8 || len(w.buf) < n {
		w.stop()
	}
	var x uint64
	for _, c := range w.buf[:n] {
		x = x<<8 | uint64(c)
	}
	w.buf = w.buf[n:]
	return x
}

func (w *gobWalk) int() int64 {
	x := w.uint()
	if x&1 != 0 {
		return ^int64(x >> 1)
	}
	return int64(x >> 1)
}

// count reads a count of elements of at least min bytes each.
func (w *gobWalk) count(min int) int {
	n := w.uint()
	if n > uint64(len(w.buf)/min) {
		w.fail("%d elements, %d bytes left", n, len(w.buf))
	}
	return int(n)
}

// skip reads a byte count and that many bytes.
func (w *gobWalk) skip() {
	n := w.uint()
	if n > uint64(len(w.buf)) {
		w.stop()
	}
	w.buf = w.buf[n:]
}

// message makes the next message of the stream the one read; false at its end.
func (w *gobWalk) message() bool {
	if len(w.rest) == 0 {
		return false
	}
	w.buf, w.rest = w.rest, nil
	n := w.uint()
	if n > uint64(len(w.buf)) {
		w.stop()
	}
	w.buf, w.rest = w.buf[:n], w.buf[n:]
	return true
}

// typeSequence reads type definitions up to a value's type id (Decoder.decodeTypeSequence).
func (w *gobWalk) typeSequence(inInterface bool) int {
	for {
		if len(w.buf) == 0 && !w.message() {
			w.stop()
		}
		id := w.int()
		if id >= 0 {
			return int(id)
		}
		w.define(-id)
		if len(w.buf) > 0 {
			if !inInterface {
				w.stop()
			}
			w.uint()
		}
	}
}

// define reads the wireType of type id.
func (w *gobWalk) define(id int64) {
	if id < gobFirstUserID || id > 1<<31 || len(w.types) >= maxGobTypes {
		w.stop()
	}
	var t gobType
	elem := func() { t.elem = int(w.int()) }
	w.wireStruct( // wireType: ArrayT, SliceT, StructT, MapT, then three encoder kinds
		func() { t.kind = 'a'; w.wireStruct(w.commonType, elem, func() { t.len = int(w.int()) }) },
		func() { t.kind = 's'; w.wireStruct(w.commonType, elem) },
		func() { t.kind = 't'; w.wireStruct(w.commonType, func() { t.fields = w.fieldTypes() }) },
		func() { t.kind = 'm'; w.wireStruct(w.commonType, func() { t.key = int(w.int()) }, elem) },
		func() { t.kind = 'e'; w.wireStruct(w.commonType) },
		func() { t.kind = 'e'; w.wireStruct(w.commonType) },
		func() { t.kind = 'e'; w.wireStruct(w.commonType) },
	)
	if t.kind == 0 {
		w.stop()
	}
	w.types[int(id)] = t
}

// fieldTypes reads a structType's fields ([]fieldType: Name, Id) and returns their ids.
func (w *gobWalk) fieldTypes() []int {
	n := w.count(1)
	ids := make([]int, 0, n)
	for range n {
		id := 0
		w.wireStruct(w.skip, func() { id = int(w.int()) })
		ids = append(ids, id)
	}
	return ids
}

// commonType reads a CommonType: its Name and Id.
func (w *gobWalk) commonType() { w.wireStruct(w.skip, func() { w.int() }) }

// wireStruct reads a struct of gob's own types, whose field i fields[i] reads.
func (w *gobWalk) wireStruct(fields ...func()) {
	w.structFields(func(f int) {
		if f >= len(fields) {
			w.stop()
		}
		fields[f]()
	})
}

// structFields reads a struct's fields, calling field with each field's number to read
// its value, up to the terminating zero delta.
func (w *gobWalk) structFields(field func(int)) {
	w.enter()
	defer w.leave()
	f := -1
	for {
		d := w.uint()
		if d == 0 {
			return
		}
		if d > 1<<20 {
			w.stop()
		}
		f += int(d)
		field(f)
	}
}

func (w *gobWalk) enter() {
	if w.depth++; w.depth > maxGobDepth {
		w.fail("nested deeper than %d", maxGobDepth)
	}
}

func (w *gobWalk) leave() { w.depth-- }

// value reads a value of type id as Decoder.decodeValue does: a struct's fields, or a
// single value after a zero delta.
func (w *gobWalk) value(id int) {
	if t, ok := w.types[id]; ok && t.kind == 't' {
		w.fieldValue(id)
		return
	}
	if w.uint() != 0 {
		w.stop()
	}
	w.fieldValue(id)
}

// fieldValue reads one encoded value of type id.
func (w *gobWalk) fieldValue(id int) {
	switch id {
	case gobBool, gobInt, gobUint, gobFloat:
		w.uint()
		return
	case gobComplex:
		w.uint()
		w.uint()
		return
	case gobBytes, gobString:
		w.skip()
		return
	case gobInterface:
		w.iface()
		return
	}
	t, ok := w.types[id]
	if !ok {
		w.stop()
	}
	w.enter()
	defer w.leave()
	switch t.kind {
	case 'e':
		w.skip()
	case 't':
		w.structFields(func(f int) {
			if f >= len(t.fields) {
				w.stop()
			}
			w.fieldValue(t.fields[f])
		})
	case 'a', 's':
		n := w.count(1)
		if t.kind == 'a' && n != t.len {
			w.stop()
		}
		for range n {
			w.fieldValue(t.elem)
		}
	case 'm':
		n := w.count(2)
		for range n {
			w.fieldValue(t.key)
			w.fieldValue(t.elem)
		}
	}
}

// iface reads an interface value: the concrete type's name, its type definitions, its
// id, a byte count and the value (Decoder.decodeInterface).
func (w *gobWalk) iface() {
	w.enter()
	defer w.leave()
	n := w.uint()
	if n > uint64(len(w.buf)) || n > 1024 {
		w.stop()
	}
	w.buf = w.buf[n:]
	if n == 0 {
		return // nil
	}
	id := w.typeSequence(true)
	w.uint()
	w.value(id)
}
