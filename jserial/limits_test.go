package jserial

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/allocbound"
)

func header(b ...byte) []byte { return append([]byte{0xAC, 0xED, 0, 5}, b...) }

func TestBadInput(t *testing.T) {
	integer := golden(t, "integer")
	wrongSUID := bytes.Clone(integer)
	i := bytes.Index(wrongSUID, []byte("java.lang.Integer")) + len("java.lang.Integer")
	wrongSUID[i+7]++
	// A class descriptor whose superclass is a reference to itself.
	selfSuper := header(tcObject, tcClassDesc, 0, 1, 'A', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable, 0, 0, tcEndBlockData,
		tcReference, 0, 0x7e, 0, 0)
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrBadHeader},
		{"bad magic", []byte{0xCA, 0xFE, 0, 5, tcNull}, ErrBadHeader},
		{"version 4", []byte{0xAC, 0xED, 0, 4, tcNull}, ErrBadHeader},
		{"header only", header(), ErrTruncated},
		{"unknown type code", header(0x99), ErrUnknownTypeCode},
		{"truncated string", header(tcString, 0, 5, 'a'), ErrTruncated},
		{"truncated long string", header(tcLongString, 0, 0, 0, 0, 0, 0x10, 0, 0, 'a'), ErrTruncated},
		{"long string beyond MaxBytes", header(tcLongString, 0x10, 0, 0, 0, 0, 0, 0, 0, 'a'), ErrLimit},
		{"huge array", header(tcArray, tcClassDesc, 0, 2, '[', 'B', 0, 0, 0, 0, 0, 0, 0, 0, SCSerializable, 0, 0, tcEndBlockData, tcNull, 0x7f, 0xff, 0xff, 0xff, 1, 2), ErrLimit},
		{"array longer than input", header(tcArray, tcClassDesc, 0, 2, '[', 'B', 0, 0, 0, 0, 0, 0, 0, 0, SCSerializable, 0, 0, tcEndBlockData, tcNull, 0, 0xff, 0xff, 0xff, 1, 2), ErrTruncated},
		{"negative array length", header(tcArray, tcClassDesc, 0, 2, '[', 'I', 0, 0, 0, 0, 0, 0, 0, 0, SCSerializable, 0, 0, tcEndBlockData, tcNull, 0xff, 0xff, 0xff, 0xff), ErrMalformed},
		{"dangling reference", header(tcReference, 0, 0x7e, 0, 0), ErrMalformed},
		{"wrong serialVersionUID", wrongSUID, ErrSUIDMismatch},
		{"own superclass", selfSuper, ErrCycle},
		{"trailing data", append(bytes.Clone(integer), tcNull), ErrTrailingData},
		{"block data in a field", header(tcObject, tcClassDesc, 0, 1, 'A', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable, 0, 1, 'L', 0, 1, 'f',
			tcString, 0, 1, 'x', tcEndBlockData, tcNull, tcBlockData, 0), ErrMalformed},
		{"invalid modified UTF-8", header(tcString, 0, 2, 0xC3, 'a'), ErrMalformed},
		{"reset inside an object", header(tcArray, tcClassDesc, 0, 2, '[', 'L', 0, 0, 0, 0, 0, 0, 0, 0, SCSerializable, 0, 0, tcEndBlockData, tcNull, 0, 0, 0, 1, tcReset), ErrMalformed},
		{"exception", header(tcException), ErrUnsupported},
		{"proxy class", header(tcObject, tcProxyClassDesc), ErrUnsupported},
		{"externalizable without block data", header(tcObject, tcClassDesc, 0, 1, 'A', 0, 0, 0, 0, 0, 0, 0, 1, SCExternalizable, 0, 0, tcEndBlockData, tcNull), ErrUnsupported},
		{"serializable and externalizable", header(tcObject, tcClassDesc, 0, 1, 'A', 0, 0, 0, 0, 0, 0, 0, 1, SCExternalizable|SCSerializable, 0, 0, tcEndBlockData, tcNull), ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Unmarshal(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Offset < 0 || de.Offset > int64(len(c.in)) {
				t.Fatalf("no *DecodeError with a sane offset: %#v", err)
			}
			// The reader path agrees.
			d, _ := NewDecoder(bytes.NewReader(c.in), DecoderConfig{})
			_, rerr := d.Decode()
			if c.name == "header only" && rerr == io.EOF { // an empty stream of elements
				return
			}
			if c.want != ErrTrailingData && !errors.Is(rerr, c.want) {
				t.Fatalf("Decoder: got %v, want %v", rerr, c.want)
			}
		})
	}
}

func TestUnknownTypeCodeOffset(t *testing.T) {
	_, err := Unmarshal(header(0x99))
	var de *DecodeError
	if !errors.As(err, &de) || de.Offset != 4 || !strings.Contains(err.Error(), "0x99") {
		t.Fatalf("%v", err)
	}
}

func TestLimits(t *testing.T) {
	nested := []any{"leaf"}
	for i := 0; i < 30; i++ {
		nested = []any{nested}
	}
	deep, _ := Marshal(nested)
	many := make([]any, 100)
	for i := range many {
		many[i] = string([]byte{byte('a' + i%26), byte(i)})
	}
	manyStrings, _ := Marshal(many)
	long, _ := Marshal(make([]byte, 100))
	nulls, _ := Marshal(&Array{Class: StringArrayDesc, Elems: make([]any, 100)})
	for _, c := range []struct {
		name string
		in   []byte
		cfg  DecoderConfig
	}{
		{"depth", deep, DecoderConfig{MaxDepth: 20}},
		{"handles", manyStrings, DecoderConfig{MaxHandles: 50}},
		{"array length", nulls, DecoderConfig{MaxArrayLen: 99}},
		{"collection size", manyStrings, DecoderConfig{MaxArrayLen: 99}},
		{"bytes", long, DecoderConfig{MaxBytes: 50}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := UnmarshalAll(c.in, DecoderConfig{}); err != nil {
				t.Fatalf("default limits: %v", err)
			}
			if _, err := UnmarshalAll(c.in, c.cfg); !errors.Is(err, ErrLimit) {
				t.Fatalf("UnmarshalAll: %v", err)
			}
			if _, err := UnmarshalConfig(c.in, c.cfg); !errors.Is(err, ErrLimit) {
				t.Fatalf("UnmarshalConfig: %v", err)
			}
			d, err := NewDecoder(bytes.NewReader(c.in), c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Decode(); !errors.Is(err, ErrLimit) {
				t.Fatalf("Decoder: %v", err)
			}
			if _, err := d.Decode(); !errors.Is(err, ErrLimit) {
				t.Fatalf("error not sticky: %v", err)
			}
		})
	}
	if _, err := NewDecoder(bytes.NewReader(nil), DecoderConfig{MaxDepth: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
	if _, err := NewDecoder(nil, DecoderConfig{}); err == nil {
		t.Fatal("nil reader accepted")
	}
	if _, err := NewEncoder(nil, EncoderConfig{}); err == nil {
		t.Fatal("nil writer accepted")
	}
	if _, err := NewEncoder(io.Discard, EncoderConfig{MaxDepth: -1}); err == nil {
		t.Fatal("negative MaxDepth accepted")
	}
}

// A length read off the wire is never allocated before the data is there.
func TestNoAllocationFromLengths(t *testing.T) {
	claims := [][]byte{
		header(tcArray, tcClassDesc, 0, 2, '[', 'J', 0, 0, 0, 0, 0, 0, 0, 0, SCSerializable, 0, 0, tcEndBlockData, tcNull, 0, 0xff, 0xff, 0xff),
		header(tcArray, tcClassDesc, 0, 2, '[', 'L', 0, 0, 0, 0, 0, 0, 0, 0, SCSerializable, 0, 0, tcEndBlockData, tcNull, 0, 0xff, 0xff, 0xff),
		header(tcLongString, 0, 0, 0, 0, 0x03, 0xff, 0xff, 0xff),
		header(tcBlockDataLong, 0x03, 0xff, 0xff, 0xff),
		append(golden(t, "arraylist")[:len(golden(t, "arraylist"))-40], 0x7f), // an ArrayList cut short
	}
	for i, in := range claims {
		for _, viaReader := range []bool{false, true} {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var err error
			if viaReader {
				d, _ := NewDecoder(io.MultiReader(bytes.NewReader(in)), DecoderConfig{})
				_, err = d.Decode()
			} else {
				_, err = Unmarshal(in)
			}
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("claim %d decoded", i)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("claim %d (reader %v): %d bytes allocated for %d bytes of input (%v)", i, viaReader, grew, len(in), err)
			}
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	deep := []any{}
	for i := 0; i < 2000; i++ {
		deep = []any{deep}
	}
	wrongField, _ := NewObject(goldenBase)
	wrongField.Slots[0].Values[0] = int32(1) // id is a long
	for _, c := range []struct {
		name string
		v    any
		want error
	}{
		{"Go int", 5, ErrType},
		{"unnamed class", &Object{Class: &ClassDesc{Flags: SCSerializable}}, ErrType},
		{"struct", struct{}{}, ErrType},
		{"map", map[string]any{}, ErrType},
		{"block data in a list", []any{BlockData{1}}, ErrType},
		{"wrong field type", wrongField, ErrType},
		{"slots missing", &Object{Class: goldenPoint}, ErrType},
		{"enum without flag", &Enum{Class: goldenBase, Name: "X"}, ErrType},
		{"array without array class", &Array{Class: goldenBase}, ErrType},
		{"primitive array element", &Array{Class: &ClassDesc{Name: "[I", Flags: SCSerializable}, Elems: []any{int64(1)}}, ErrType},
		{"too deep", deep, ErrLimit},
		{"own superclass", &Object{Class: func() *ClassDesc { c := &ClassDesc{Name: "A", Flags: SCSerializable}; c.Super = c; return c }()}, ErrCycle},
	} {
		if _, err := Marshal(c.v); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if err := wrongField.SetField("id", "x"); !errors.Is(err, ErrType) {
		t.Errorf("SetField: %v", err)
	}
	if err := wrongField.SetField("nope", int64(1)); !errors.Is(err, ErrType) {
		t.Errorf("SetField of a missing field: %v", err)
	}
}

// A Go map holding itself is valid Java (written with a back-reference) but has no Go
// form: decoding it is ErrCycle.
func TestCyclicMap(t *testing.T) {
	m := &Map{}
	m.Put("self", m)
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unmarshal(b); !errors.Is(err, ErrCycle) {
		t.Fatalf("got %v", err)
	}
}

// Large arrays and collections also decode through an io.Reader that returns little
// data at a time.
func TestReaderLargeValues(t *testing.T) {
	ints := make([]int32, 5000)
	list := make([]any, 3000)
	for i := range ints {
		ints[i] = int32(i * 3)
	}
	for i := range list {
		list[i] = int32(i)
	}
	for _, v := range []any{ints, list, make([]byte, 100000), strings.Repeat("x", 70000)} {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := NewDecoder(&chunkReader{b: b, n: 7}, DecoderConfig{})
		got, err := d.Decode()
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if b2, _ := Marshal(got); !bytes.Equal(b, b2) {
			t.Fatalf("%T decoded differently", v)
		}
		if _, err := d.Decode(); err != io.EOF {
			t.Fatalf("after the value: %v", err)
		}
	}
}

// An array of a primitive type decodes to the bytes it took on the wire: only MaxBytes
// bounds it, not MaxArrayLen (a Tribes message carries a whole state transfer as one
// byte[]), whether the input is a slice or a reader.
func TestPrimitiveArraysBoundedByMaxBytes(t *testing.T) {
	in := make([]byte, 1000)
	for i := range in {
		in[i] = byte(i)
	}
	ints := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, v := range []any{in, ints} {
		b, err := Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		small := DecoderConfig{MaxArrayLen: 4}
		got, err := UnmarshalConfig(b, small)
		if err != nil {
			t.Fatalf("%T beyond MaxArrayLen: %v", v, err)
		}
		d, err := NewDecoder(bytes.NewReader(b), small)
		if err != nil {
			t.Fatal(err)
		}
		fromReader, err := d.Decode()
		if err != nil {
			t.Fatalf("%T beyond MaxArrayLen, from a reader: %v", v, err)
		}
		if !reflect.DeepEqual(got, v) || !reflect.DeepEqual(fromReader, v) {
			t.Fatalf("decoded %v and %v, want %v", got, fromReader, v)
		}
		tight := DecoderConfig{MaxBytes: int64(len(b) - 1)}
		if _, err := UnmarshalConfig(b, tight); !errors.Is(err, ErrLimit) {
			t.Fatalf("%T beyond MaxBytes: %v", v, err)
		}
		d, _ = NewDecoder(bytes.NewReader(b), tight)
		if _, err := d.Decode(); !errors.Is(err, ErrLimit) {
			t.Fatalf("%T beyond MaxBytes, from a reader: %v", v, err)
		}
	}
}

// For input given whole, MaxHandles' default grows with the input (one handle per 8
// bytes beyond DefaultMaxHandles): a stream of more small objects than DefaultMaxHandles
// decodes; from a reader, whose size is not known, the default stays DefaultMaxHandles.
func TestDefaultMaxHandlesFollowsInput(t *testing.T) {
	allocbound.WithoutRace(t)
	longs := make([]any, DefaultMaxHandles+1000) // a Long each: 14 bytes, one handle
	for i := range longs {
		longs[i] = int64(i) << 8
	}
	b, err := Marshal(longs)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("%d Longs in %d bytes: %v", len(longs), len(b), err)
	}
	if got := v.([]any); len(got) != len(longs) || got[len(got)-1] != longs[len(longs)-1] {
		t.Fatalf("decoded %d values", len(got))
	}
	if _, err := UnmarshalConfig(b, DecoderConfig{MaxHandles: DefaultMaxHandles}); !errors.Is(err, ErrLimit) {
		t.Fatalf("MaxHandles set: %v, want ErrLimit", err)
	}
	d, err := NewDecoder(bytes.NewReader(b), DecoderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode(); !errors.Is(err, ErrLimit) {
		t.Fatalf("from a reader: %v, want ErrLimit", err)
	}
}

// Lengths nested in the first element of arrays, collections and objects do not
// multiply what is allocated ahead of the data: every length must fit in the input beside
// the elements its enclosing ones still announce, so a stream that announces more than
// it holds fails early, having allocated a small multiple of its size (an element
// decoded takes up to 16 times its smallest encoding, a TC_NULL). Each stream nests
// lengths as large as the rest of the input in one another; before, each level
// preallocated for them (800 MiB for the 1 MiB of nested arrays).
func TestNestedLengthsBounded(t *testing.T) {
	u32 := func(b []byte, n int) []byte { return binary.BigEndian.AppendUint32(b, uint32(n)) }
	pad := func(b []byte, total int) []byte {
		for len(b) < total {
			b = append(b, tcNull)
		}
		return b
	}
	// Every level announces as many elements as the bytes left after its length.
	nested := func(prefix []byte, level func(b []byte, left int) []byte, depth, total int) []byte {
		b := prefix
		for i := range depth {
			if i > 0 {
				b = append(b, tcObject, tcReference, 0, 0x7e, 0, 0) // the first level's class
			}
			b = level(b, total-len(b))
		}
		return pad(b, total)
	}
	objArray := header(tcArray, tcClassDesc, 0, 19)
	objArray = append(objArray, "[Ljava.lang.Object;"...)
	objArray = append(objArray, 0x90, 0xCE, 0x58, 0x9F, 0x10, 0x73, 0x29, 0x6C, SCSerializable, 0, 0, tcEndBlockData, tcNull)
	arrays := objArray
	for i := range 50 {
		if i > 0 {
			arrays = append(arrays, tcArray, tcReference, 0, 0x7e, 0, 0)
		}
		arrays = u32(arrays, 1<<20-len(arrays)-4)
	}
	arrays = pad(arrays, 1<<20)

	list, _ := Marshal([]any{nil}) // ... size, TC_BLOCKDATA 4, count, TC_NULL, TC_ENDBLOCKDATA
	lists := nested(list[:len(list)-12], func(b []byte, left int) []byte {
		n := left - 10
		return u32(append(u32(b, n), tcBlockData, 4), n)
	}, 50, 1<<20)
	m, _ := Marshal(&Map{Entries: []Entry{{"k", nil}}}) // ... loadFactor, threshold, TC_BLOCKDATA 8, capacity, size, "k", TC_NULL, TC_ENDBLOCKDATA
	maps := nested(m[:len(m)-24], func(b []byte, left int) []byte {
		n := (left - 18) / 2
		b = append(b, 0x3f, 0x40, 0, 0, 0, 0, 0, 12, tcBlockData, 8)
		return append(u32(u32(b, 16), n), tcNull) // the first key, null
	}, 50, 1<<20)

	// Objects of a class of 20 000 object fields, each the first field's value.
	const fields = 20000
	objects := header(tcObject, tcClassDesc, 0, 1, 'A', 0, 0, 0, 0, 0, 0, 0, 1, SCSerializable)
	objects = binary.BigEndian.AppendUint16(objects, fields)
	for i := range fields {
		objects = append(objects, 'L', 0, 1, 'f')
		if i == 0 {
			objects = append(objects, tcString, 0, 18)
			objects = append(objects, "Ljava/lang/Object;"...)
		} else {
			objects = append(objects, tcReference, 0, 0x7e, 0, 1)
		}
	}
	objects = append(objects, tcEndBlockData, tcNull)
	for range 200 {
		objects = append(objects, tcObject, tcReference, 0, 0x7e, 0, 0)
	}
	objects = pad(objects, len(objects)+fields)

	for _, c := range []struct {
		name string
		in   []byte
	}{{"arrays", arrays}, {"lists", lists}, {"maps", maps}, {"objects", objects}} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Unmarshal(c.in)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("got %v, want ErrTruncated", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 32*uint64(len(c.in))+1<<20 {
				t.Errorf("%d MiB allocated for %d KiB of input (%v)", grew>>20, len(c.in)>>10, err)
			}
		})
	}
}

// What the elements claim is given back as they are read: after every element of every
// stream Java wrote, nothing is claimed, so the claims never refuse a stream that holds
// its elements.
func TestClaimsBalance(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.ser"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no streams: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := newBytesDecoder(b, DecoderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; ; n++ {
			_, err := d.Decode()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: element %d: %v", f, n, err)
			}
			if d.claimed != 0 {
				t.Fatalf("%s: %d bytes still claimed after element %d", f, d.claimed, n)
			}
		}
	}
}

// A length in custom data (readUTF's, or a caller's ReadBytes) is allocated only once
// its bytes are there: before, block data FF FF made readUTF allocate 64 KiB.
func TestDataReaderLengthsBounded(t *testing.T) {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	for range 100 {
		if _, err := NewDataReader([]any{BlockData{0xFF, 0xFF}}).ReadUTF(); !errors.Is(err, ErrTruncated) {
			t.Fatalf("readUTF of 65535 bytes with none there: %v", err)
		}
	}
	runtime.ReadMemStats(&b)
	if got := b.TotalAlloc - a.TotalAlloc; got > 100<<10 {
		t.Errorf("100 truncated readUTFs allocated %d bytes", got)
	}
	r := NewDataReader([]any{BlockData{1, 2}, BlockData{3}, "obj", BlockData{4}})
	if got, err := r.ReadBytes(3); err != nil || !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Errorf("ReadBytes across two blocks: %v %v", got, err)
	}
	if _, err := r.ReadBytes(1); !errors.Is(err, ErrTruncated) {
		t.Errorf("ReadBytes before an object: %v", err)
	}
	if _, err := r.ReadBytes(-1); !errors.Is(err, ErrMalformed) {
		t.Errorf("ReadBytes(-1): %v", err)
	}
}

// A Go value with no Java mapping is refused with a hint at the Go type that maps to the
// Java class the caller most likely meant: a Go int is not an Integer.
func TestGoTypeErrorHints(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{5, "Go type int (use int32 for a Java Integer, int64 for a Long)"},
		{uint16(5), "Go type uint16 (use int32"},
		{map[string]any{}, "(use a *jserial.Map for a Java HashMap)"},
		{struct{ A int }{}, "(use a *jserial.Object for an instance of a Java class)"},
		{[]int{1}, "(use []any for a Java ArrayList, []int32 or []int64"},
	} {
		_, err := Marshal(c.v)
		if !errors.Is(err, ErrType) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Marshal(%#v) = %v, want ErrType saying %q", c.v, err, c.want)
		}
	}
}
