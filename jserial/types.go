package jserial

import (
	"fmt"
	"math/big"
	"reflect"
	"slices"
)

// Type codes of the stream protocol (java.io.ObjectStreamConstants).
const (
	tcNull           = 0x70
	tcReference      = 0x71
	tcClassDesc      = 0x72
	tcObject         = 0x73
	tcString         = 0x74
	tcArray          = 0x75
	tcClass          = 0x76
	tcBlockData      = 0x77
	tcEndBlockData   = 0x78
	tcReset          = 0x79
	tcBlockDataLong  = 0x7A
	tcException      = 0x7B
	tcLongString     = 0x7C
	tcProxyClassDesc = 0x7D
	tcEnum           = 0x7E

	baseWireHandle = 0x7E0000
	streamMagic    = 0xACED
	streamVersion  = 5
	maxBlockSize   = 1024 // ObjectOutputStream's block size
)

// Class descriptor flags (ClassDesc.Flags).
const (
	SCWriteMethod    = 0x01 // the class has a writeObject method: custom data follows its fields
	SCSerializable   = 0x02
	SCExternalizable = 0x04
	SCBlockData      = 0x08 // externalizable data is written in block-data mode (protocol 2)
	SCEnum           = 0x10
)

// ClassDesc is a class descriptor: what TC_CLASSDESC carries. Descriptors are
// compared by pointer when encoding: objects sharing one *ClassDesc write it once and
// refer to it afterwards, as Java does. Descriptors returned by the decoder for the
// mapped JDK classes are shared package values and must not be modified.
type ClassDesc struct {
	Name   string // binary class name, e.g. "org.apache.catalina.tribes.group.RpcMessage"; arrays "[B", "[Ljava.lang.String;"
	SUID   int64  // serialVersionUID
	Flags  byte   // SC* bits
	Fields []Field
	// Annotation is what ObjectOutputStream.annotateClass wrote (BlockData and values);
	// empty for ObjectOutputStream itself.
	Annotation []any
	Super      *ClassDesc // nearest serializable superclass, nil if none

	kind      kind       // mapped JDK class (set only on the package's own descriptors)
	dataSuper *ClassDesc // nearest superclass with data (hasData), set by the decoder
	wire      []byte     // the package's descriptors without object fields: the bytes up to the superclass
}

// Field is one serializable field of a class descriptor.
type Field struct {
	// Type is the type code: 'B' byte, 'C' char, 'D' double, 'F' float, 'I' int,
	// 'J' long, 'S' short, 'Z' boolean, 'L' object, '[' array.
	Type byte
	Name string
	// Signature is the JVM type signature of an object or array field, e.g.
	// "Ljava/lang/String;" or "[B"; empty for primitive fields.
	Signature string
}

// Hierarchy returns the descriptor chain from the topmost serializable superclass down
// to d: the order in which an object's class data is written.
func (d *ClassDesc) Hierarchy() ([]*ClassDesc, error) {
	var chain []*ClassDesc
	var seen map[*ClassDesc]bool
	for c := d; c != nil; c = c.Super {
		if len(chain) == 16 {
			seen = make(map[*ClassDesc]bool)
			for _, x := range chain {
				seen[x] = true
			}
		}
		if seen[c] || (seen == nil && slices.Contains(chain, c)) {
			return nil, fmt.Errorf("%w: class %s is its own superclass", ErrCycle, c.Name)
		}
		if seen != nil {
			seen[c] = true
		}
		chain = append(chain, c)
	}
	slices.Reverse(chain)
	return chain, nil
}

// hasData reports whether objects carry data for class c: field values, or a
// writeObject method's annotation.
func (d *ClassDesc) hasData() bool { return len(d.Fields) > 0 || d.Flags&SCWriteMethod != 0 }

// dataChain returns the classes of Hierarchy that have data, superclass first.
func (d *ClassDesc) dataChain() ([]*ClassDesc, error) {
	chain, err := d.Hierarchy()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(chain, func(c *ClassDesc) bool { return !c.hasData() }), nil
}

// Externalizable reports whether objects of the class are written by writeExternal.
func (d *ClassDesc) Externalizable() bool { return d.Flags&SCExternalizable != 0 }

// Object is an instance of a class the package does not map to a Go type: its class
// descriptor and what was written for it. It re-encodes to the same bytes.
type Object struct {
	Class *ClassDesc
	// Slots holds the class data of each class in Class.Hierarchy() that has fields or
	// a writeObject method (SCWriteMethod), superclass first. Unused for externalizable
	// classes.
	Slots []Slot
	// External holds what writeExternal wrote (BlockData and values), for classes with
	// SCExternalizable|SCBlockData.
	External []any
}

// Slot is the data one class of an object's hierarchy wrote, in the order the stream
// holds it. It takes 32 bytes, its values 16 each: a class's data may be one byte of
// the stream (a boolean field), and what objects take is bounded by their stream's size
// (see the package documentation, Limits and errors).
type Slot struct {
	Class *ClassDesc // the class of the hierarchy this is the data of
	// Values has one entry per field of that class's descriptor, in descriptor order:
	// primitive fields hold int8, Char, float64, float32, int32, int64, int16 or bool.
	// For a class with a writeObject method (SCWriteMethod), what that method wrote
	// after the fields (BlockData and values) follows them: Fields and Annotation
	// return the two parts, SetAnnotation replaces the second.
	Values []any
}

// nFields is how many of s.Values are field values.
func (s Slot) nFields() int {
	if s.Class == nil {
		return len(s.Values)
	}
	return min(len(s.Class.Fields), len(s.Values))
}

// Fields returns the slot's field values: Values without the annotation.
func (s Slot) Fields() []any { n := s.nFields(); return s.Values[:n:n] }

// Annotation returns what the class's writeObject method wrote after the fields
// (SCWriteMethod): BlockData and values, the Values beyond those of the fields. It
// shares their memory: setting an element sets that of Values.
func (s Slot) Annotation() []any { return s.Values[s.nFields():] }

// SetAnnotation replaces the slot's annotation (what follows the field values) with a
// copy of a. Field values Values does not hold yet (a Slot built as a literal) are zero
// values first, null for object fields, as NewObject gives them
// (TestSetAnnotationOnALiteralSlotKeepsTheFields).
func (s *Slot) SetAnnotation(a []any) {
	vals := s.Fields() // capped: appending copies
	if s.Class != nil {
		for _, f := range s.Class.Fields[len(vals):] {
			vals = append(vals, zeroValue(f.Type))
		}
	}
	s.Values = append(vals, a...)
}

// NewObject returns an object of class c with zero field values (null for object
// fields) in every slot, ready for SetField.
func NewObject(c *ClassDesc) (*Object, error) {
	o := &Object{Class: c}
	if c.Externalizable() {
		return o, nil
	}
	chain, err := c.dataChain()
	if err != nil {
		return nil, err
	}
	o.Slots = make([]Slot, len(chain))
	n := 0
	for _, cd := range chain {
		n += len(cd.Fields)
	}
	vals := make([]any, 0, n) // one array for every slot's values
	for i, cd := range chain {
		start := len(vals)
		for _, f := range cd.Fields {
			vals = append(vals, zeroValue(f.Type))
		}
		if len(vals) > start {
			o.Slots[i] = Slot{Class: cd, Values: vals[start:len(vals):len(vals)]}
		} else {
			o.Slots[i] = Slot{Class: cd}
		}
	}
	return o, nil
}

// field finds the field called name, from the object's own class up.
func (o *Object) field(name string) (*Slot, int, Field) {
	for i := len(o.Slots) - 1; i >= 0; i-- {
		sl := &o.Slots[i]
		if sl.Class == nil {
			continue
		}
		for j, f := range sl.Class.Fields {
			if f.Name == name && j < len(sl.Values) {
				return sl, j, f
			}
		}
	}
	return nil, 0, Field{}
}

// Field returns the value of the field called name, looking from the object's own class
// up to its superclasses.
func (o *Object) Field(name string) (any, bool) {
	sl, j, _ := o.field(name)
	if sl == nil {
		return nil, false
	}
	return sl.Values[j], true
}

// SetField sets the field called name (the nearest one, as Field finds it).
func (o *Object) SetField(name string, v any) error {
	sl, j, f := o.field(name)
	if sl == nil {
		return fmt.Errorf("%w: %s has no field %q", ErrType, o.Class.Name, name)
	}
	if err := checkField(f, v); err != nil {
		return fmt.Errorf("%s.%s: %w", sl.Class.Name, name, err)
	}
	sl.Values[j] = v
	return nil
}

// Array is a Java array whose Go form needs its class descriptor: arrays of objects
// ("[Ljava.lang.String;", "[[I", ...), and primitive arrays written with an unusual
// descriptor. Elements of primitive arrays are the Go primitive types listed in the
// package documentation.
type Array struct {
	Class *ClassDesc
	Elems []any
}

// Enum is an enum constant.
type Enum struct {
	Class *ClassDesc // flags SCSerializable|SCEnum, SUID 0, Super EnumDesc (or a desc whose Super is)
	Name  string
}

// Class is a java.lang.Class object (TC_CLASS).
type Class struct {
	Desc *ClassDesc
}

// BlockData is one block of primitive data (TC_BLOCKDATA / TC_BLOCKDATALONG) in a
// writeObject or writeExternal annotation, or between top-level objects.
type BlockData []byte

// Reset is the TC_RESET marker between top-level elements: Decoder.Decode returns it,
// and Encoder.Encode(Reset{}) writes it and clears the handle table.
type Reset struct{}

// Char is a java.lang.Character (and a char field or array element).
type Char uint16

// UUID is a java.util.UUID: the 16 bytes most significant first.
type UUID [16]byte

// String formats u as Java's UUID.toString does.
func (u UUID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// LinkedList is a java.util.LinkedList (java.util.ArrayList is []any).
type LinkedList []any

// BigDecimal is a java.math.BigDecimal: Unscaled × 10^-Scale.
type BigDecimal struct {
	Unscaled *big.Int
	Scale    int32
}

// MapClass says which JDK map class a Map is.
type MapClass uint8

const (
	HashMap       MapClass = iota // java.util.HashMap
	LinkedHashMap                 // java.util.LinkedHashMap
	TreeMap                       // java.util.TreeMap
)

// Map is a java.util.HashMap, LinkedHashMap or TreeMap. Entries keep the stream order
// (Java's iteration order) so that a decoded map encodes to the same bytes; Go keeps
// no hash table, so keys may be any value, also []byte.
type Map struct {
	Class   MapClass
	Entries []Entry

	// HashMap and LinkedHashMap. Zero values mean what Java's new HashMap<>() followed by
	// len(Entries) puts would write: load factor 0.75, table doubled from 16 as needed.
	LoadFactor float32
	Threshold  int32 // the HashMap.threshold field
	Capacity   int32 // the bucket count HashMap.writeObject writes
	// AccessOrder is LinkedHashMap's accessOrder field.
	AccessOrder bool
	// Comparator is TreeMap's comparator (nil: natural order).
	Comparator any
}

// Entry is one key/value pair of a Map.
type Entry struct {
	Key, Value any
}

// Get returns the value of the first entry whose key equals key (== on comparable Go
// values, so []byte keys never match).
func (m *Map) Get(key any) (any, bool) {
	for _, e := range m.Entries {
		if comparableEqual(e.Key, key) {
			return e.Value, true
		}
	}
	return nil, false
}

// Put replaces the value of the entry with an equal key, or appends a new entry.
func (m *Map) Put(key, value any) {
	for i, e := range m.Entries {
		if comparableEqual(e.Key, key) {
			m.Entries[i].Value = value
			return
		}
	}
	m.Entries = append(m.Entries, Entry{key, value})
}

// SetClass says which JDK set class a Set is.
type SetClass uint8

const (
	HashSet       SetClass = iota // java.util.HashSet
	LinkedHashSet                 // java.util.LinkedHashSet
)

// Set is a java.util.HashSet or LinkedHashSet, elements in stream order.
type Set struct {
	Class SetClass
	Elems []any
	// Zero values mean what new HashSet<>() with len(Elems) adds would write.
	Capacity   int32
	LoadFactor float32
}

func comparableEqual(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.ValueOf(a).Comparable() && reflect.ValueOf(b).Comparable() && a == b
}

func zeroValue(t byte) any {
	switch t {
	case 'B':
		return int8(0)
	case 'C':
		return Char(0)
	case 'D':
		return float64(0)
	case 'F':
		return float32(0)
	case 'I':
		return int32(0)
	case 'J':
		return int64(0)
	case 'S':
		return int16(0)
	case 'Z':
		return false
	}
	return nil
}

// checkField reports whether v can be written for field f.
func checkField(f Field, v any) error {
	var ok bool
	switch f.Type {
	case 'B':
		_, ok = v.(int8)
	case 'C':
		_, ok = v.(Char)
	case 'D':
		_, ok = v.(float64)
	case 'F':
		_, ok = v.(float32)
	case 'I':
		_, ok = v.(int32)
	case 'J':
		_, ok = v.(int64)
	case 'S':
		_, ok = v.(int16)
	case 'Z':
		_, ok = v.(bool)
	case 'L', '[':
		_, isBlock := v.(BlockData)
		_, isReset := v.(Reset)
		ok = !isBlock && !isReset
	default:
		return fmt.Errorf("%w: field type code %q", ErrType, f.Type)
	}
	if !ok {
		return fmt.Errorf("%w: %T for field type %q", ErrType, v, f.Type)
	}
	return nil
}
