package delta_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestJavaValueCodecTable: each row of docs/tomcat.md's attribute-value table. The Go value
// is written as the Java class the table names (its name is in the stream's class
// descriptor) and reads back as the same Go value, elements included (an Integer as int).
func TestJavaValueCodecTable(t *testing.T) {
	hashMap := &jserial.Map{Class: jserial.HashMap, Entries: []jserial.Entry{{Key: 1, Value: "one"}}}
	for _, tc := range []struct {
		v     any
		class string
	}{
		{"text", ""}, // a String is TC_STRING, with no class descriptor
		{41, "java.lang.Integer"},
		{int64(1) << 40, "java.lang.Long"},
		{int16(-300), "java.lang.Short"},
		{int8(-3), "java.lang.Byte"},
		{2.5, "java.lang.Double"},
		{float32(0.5), "java.lang.Float"},
		{true, "java.lang.Boolean"},
		{[]byte("raw"), "[B"},
		{time.UnixMilli(1700000000000).UTC(), "java.util.Date"},
		{[]any{"a", int64(2)}, "java.util.ArrayList"},
		{map[string]any{"k": "v"}, "java.util.HashMap"},
		{&jserial.Set{Class: jserial.HashSet, Elems: []any{"x"}}, "java.util.HashSet"},
		{&jserial.Set{Class: jserial.LinkedHashSet, Elems: []any{"x", "y"}}, "java.util.LinkedHashSet"},
		{hashMap, "java.util.HashMap"},
		{&jserial.Map{Class: jserial.LinkedHashMap, Entries: []jserial.Entry{{Key: "a", Value: "b"}}}, "java.util.LinkedHashMap"},
		{&jserial.Map{Class: jserial.TreeMap, Entries: []jserial.Entry{{Key: "a", Value: 1}}}, "java.util.TreeMap"},
	} {
		b, err := delta.JavaValueCodec{}.Marshal(tc.v)
		if err != nil {
			t.Fatalf("%T %v: %v", tc.v, tc.v, err)
		}
		if tc.class != "" && !bytes.Contains(b, []byte(tc.class)) {
			t.Errorf("%T %v: the stream names no %s: %x", tc.v, tc.v, tc.class, b)
		}
		got, err := delta.JavaValueCodec{}.Unmarshal(b)
		if err != nil {
			t.Fatalf("%T %v: read back: %v", tc.v, tc.v, err)
		}
		if !sameJavaValue(got, tc.v) {
			t.Errorf("%T %v: read back as %T %v", tc.v, tc.v, got, got)
		}
	}
}

// sameJavaValue compares what the codec read with what was written, ignoring the fields
// a decoder fills in (a map's or set's capacity and load factor).
func sameJavaValue(got, want any) bool {
	switch w := want.(type) {
	case *jserial.Map:
		g, ok := got.(*jserial.Map)
		return ok && g.Class == w.Class && reflect.DeepEqual(g.Entries, w.Entries)
	case *jserial.Set:
		g, ok := got.(*jserial.Set)
		return ok && g.Class == w.Class && reflect.DeepEqual(g.Elems, w.Elems)
	}
	return reflect.DeepEqual(got, want)
}
