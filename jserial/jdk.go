package jserial

import "fmt"

// kind identifies the JDK classes mapped to Go types.
type kind uint8

const (
	kindNone kind = iota
	kindNumber
	kindEnum
	kindInteger
	kindLong
	kindBoolean
	kindShort
	kindByte
	kindCharacter
	kindFloat
	kindDouble
	kindBytes
	kindShorts
	kindInts
	kindLongs
	kindChars
	kindBools
	kindFloats
	kindDoubles
	kindArrayList
	kindLinkedList
	kindHashMap
	kindLinkedHashMap
	kindTreeMap
	kindHashSet
	kindLinkedHashSet
	kindUUID
	kindDate
	kindBigInteger
	kindBigDecimal
)

func desc(k kind, name string, suid int64, flags byte, super *ClassDesc, fields ...Field) *ClassDesc {
	return &ClassDesc{Name: name, SUID: suid, Flags: flags, Fields: fields, Super: super, kind: k}
}

func value(t byte) Field { return Field{Type: t, Name: "value"} }

const serWrite = SCSerializable | SCWriteMethod

// Descriptors of JDK classes for building values. They are shared: do not modify them.
var (
	// EnumDesc is java.lang.Enum's descriptor: the Super of every enum class descriptor.
	EnumDesc = desc(kindEnum, "java.lang.Enum", 0, SCSerializable|SCEnum, nil)
	// ObjectArrayDesc is the descriptor of Object[], for an *Array.
	ObjectArrayDesc = &ClassDesc{Name: "[Ljava.lang.Object;", SUID: -8012369246846506644, Flags: SCSerializable}
	// StringArrayDesc is the descriptor of String[], for an *Array.
	StringArrayDesc = &ClassDesc{Name: "[Ljava.lang.String;", SUID: -5921575005990323385, Flags: SCSerializable}
)

// The descriptors of the mapped JDK classes, as Java 17's ObjectOutputStream writes them.
var (
	numberDesc = desc(kindNumber, "java.lang.Number", -8742448824652078965, SCSerializable, nil)

	integerDesc   = desc(kindInteger, "java.lang.Integer", 1360826667806852920, SCSerializable, numberDesc, value('I'))
	longDesc      = desc(kindLong, "java.lang.Long", 4290774380558885855, SCSerializable, numberDesc, value('J'))
	booleanDesc   = desc(kindBoolean, "java.lang.Boolean", -3665804199014368530, SCSerializable, nil, value('Z'))
	shortDesc     = desc(kindShort, "java.lang.Short", 7515723908773894738, SCSerializable, numberDesc, value('S'))
	byteDesc      = desc(kindByte, "java.lang.Byte", -7183698231559129828, SCSerializable, numberDesc, value('B'))
	characterDesc = desc(kindCharacter, "java.lang.Character", 3786198910865385080, SCSerializable, nil, value('C'))
	floatDesc     = desc(kindFloat, "java.lang.Float", -2671257302660747028, SCSerializable, numberDesc, value('F'))
	doubleDesc    = desc(kindDouble, "java.lang.Double", -9172774392245257468, SCSerializable, numberDesc, value('D'))

	bytesDesc   = desc(kindBytes, "[B", -5984413125824719648, SCSerializable, nil)
	shortsDesc  = desc(kindShorts, "[S", -1188055269542874886, SCSerializable, nil)
	intsDesc    = desc(kindInts, "[I", 5600894804908749477, SCSerializable, nil)
	longsDesc   = desc(kindLongs, "[J", 8655923659555304851, SCSerializable, nil)
	charsDesc   = desc(kindChars, "[C", -5753798564021173076, SCSerializable, nil)
	boolsDesc   = desc(kindBools, "[Z", 6309297032502205922, SCSerializable, nil)
	floatsDesc  = desc(kindFloats, "[F", 836686056779680834, SCSerializable, nil)
	doublesDesc = desc(kindDoubles, "[D", 4514449696888150558, SCSerializable, nil)

	arrayListDesc     = desc(kindArrayList, "java.util.ArrayList", 8683452581122892189, serWrite, nil, Field{Type: 'I', Name: "size"})
	linkedListDesc    = desc(kindLinkedList, "java.util.LinkedList", 876323262645176354, serWrite, nil)
	hashMapDesc       = desc(kindHashMap, "java.util.HashMap", 362498820763181265, serWrite, nil, Field{Type: 'F', Name: "loadFactor"}, Field{Type: 'I', Name: "threshold"})
	linkedHashMapDesc = desc(kindLinkedHashMap, "java.util.LinkedHashMap", 3801124242820219131, SCSerializable, hashMapDesc, Field{Type: 'Z', Name: "accessOrder"})
	treeMapDesc       = desc(kindTreeMap, "java.util.TreeMap", 919286545866124006, serWrite, nil, Field{Type: 'L', Name: "comparator", Signature: "Ljava/util/Comparator;"})
	hashSetDesc       = desc(kindHashSet, "java.util.HashSet", -5024744406713321676, serWrite, nil)
	linkedHashSetDesc = desc(kindLinkedHashSet, "java.util.LinkedHashSet", -2851667679971038690, SCSerializable, hashSetDesc)
	uuidDesc          = desc(kindUUID, "java.util.UUID", -4856846361193249489, SCSerializable, nil, Field{Type: 'J', Name: "leastSigBits"}, Field{Type: 'J', Name: "mostSigBits"})
	dateDesc          = desc(kindDate, "java.util.Date", 7523967970034938905, serWrite, nil)
	bigIntegerDesc    = desc(kindBigInteger, "java.math.BigInteger", -8287574255936472291, serWrite, numberDesc,
		Field{Type: 'I', Name: "bitCount"}, Field{Type: 'I', Name: "bitLength"}, Field{Type: 'I', Name: "firstNonzeroByteNum"},
		Field{Type: 'I', Name: "lowestSetBit"}, Field{Type: 'I', Name: "signum"}, Field{Type: '[', Name: "magnitude", Signature: "[B"})
	bigDecimalDesc = desc(kindBigDecimal, "java.math.BigDecimal", 6108874887143696463, serWrite, numberDesc,
		Field{Type: 'I', Name: "scale"}, Field{Type: 'L', Name: "intVal", Signature: "Ljava/math/BigInteger;"})
)

// mappedDescs indexes the package's descriptors by class name.
var mappedDescs = func() map[string]*ClassDesc {
	m := map[string]*ClassDesc{}
	for _, d := range []*ClassDesc{numberDesc, EnumDesc, integerDesc, longDesc, booleanDesc, shortDesc, byteDesc,
		characterDesc, floatDesc, doubleDesc, bytesDesc, shortsDesc, intsDesc, longsDesc, charsDesc, boolsDesc,
		floatsDesc, doublesDesc, arrayListDesc, linkedListDesc, hashMapDesc, linkedHashMapDesc, treeMapDesc,
		hashSetDesc, linkedHashSetDesc, uuidDesc, dateDesc, bigIntegerDesc, bigDecimalDesc} {
		d.linkDataSuper()
		d.wire = constantWire(d)
		m[d.Name] = d
	}
	return m
}()

// constantWire returns the bytes of d up to its superclass descriptor when they do
// not depend on the handle table (no object fields), else nil. Handles: the
// descriptor's own is assigned after these bytes, as after the SUID; nothing in
// between takes one.
func constantWire(d *ClassDesc) []byte {
	var s encState
	s.init(EncoderConfig{})
	for _, f := range d.Fields {
		if f.Type == 'L' || f.Type == '[' {
			return nil
		}
	}
	super := d.Super
	d.Super, d.wire = nil, nil
	_ = s.newClassDesc(d, refKey{})
	d.Super = super
	return s.buf[:len(s.buf)-1] // without the TC_NULL of the missing superclass
}

// linkDataSuper sets d.dataSuper from a Super whose own link is set.
func (d *ClassDesc) linkDataSuper() {
	switch s := d.Super; {
	case s == nil:
		d.dataSuper = nil
	case s.hasData():
		d.dataSuper = s
	default:
		d.dataSuper = s.dataSuper
	}
}

// canonical returns the package's descriptor for a decoded one that is identical to
// it, d itself for other classes, or an error for a mapped class with another SUID.
// Array descriptors are matched leniently on SUID (Java does not check array SUIDs),
// by falling back to the generic *Array form.
func canonical(d *ClassDesc) (*ClassDesc, error) {
	m := mappedDescs[d.Name]
	if m == nil {
		return d, nil
	}
	if d.SUID != m.SUID {
		if d.Name[0] == '[' {
			return d, nil
		}
		return nil, fmt.Errorf("%s: stream has %d, the JDK's is %d", d.Name, d.SUID, m.SUID)
	}
	if d.Flags != m.Flags || len(d.Fields) != len(m.Fields) || len(d.Annotation) != 0 || d.Super != m.Super {
		return d, nil
	}
	for i := range d.Fields {
		if d.Fields[i] != m.Fields[i] {
			return d, nil
		}
	}
	return m, nil
}

// NewEnumDesc returns the descriptor of the enum class name, as Java writes it.
func NewEnumDesc(name string) *ClassDesc {
	return &ClassDesc{Name: name, Flags: SCSerializable | SCEnum, Super: EnumDesc}
}

// hashCapacity is the table size of a HashMap after n puts into new HashMap<>().
func hashCapacity(n int) int32 {
	c := int32(16)
	for float32(n) > float32(c)*0.75 && c < 1<<30 {
		c *= 2
	}
	return c
}
