package delta

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
)

// TestDecodeSessionDataKeepsTheLastValueOfAName: a session's stream (DeltaManager's
// EventAllSessionData, a transfer at start; BackupManager's full copy) may name an
// attribute more than once: Tomcat's DeltaSession.readObject puts each attribute into its
// map in order, the last value winning. Decoded, the session held every copy, and a
// node loading it (Session.load) found the first: its Get gave the first value where
// Tomcat's gave the last. It now holds the name once, with the last value, at the name's
// first place, on both paths.
func TestDecodeSessionDataKeepsTheLastValueOfAName(t *testing.T) {
	val := func(v any) []byte {
		b, err := JavaValueCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	st := SessionState{ID: "S", CreationTime: 1, LastAccessedTime: 2, MaxInactive: 3, Attributes: []NamedValue{
		{Name: "x", Value: val(1)}, {Name: "y", Value: val("two")}, {Name: "x", Value: val(3)}, {Name: "z", Value: val(4)},
		{Name: "x", Value: val(5)}}}
	check := func(what string, got SessionState) {
		t.Helper()
		var names []string
		for _, a := range got.Attributes {
			names = append(names, a.Name)
		}
		if want := []string{"x", "y", "z"}; !slices.Equal(names, want) {
			t.Fatalf("%s: attributes %q, want %q (x once)", what, names, want)
		}
		if v, err := (JavaValueCodec{}).Unmarshal(got.Attributes[0].Value); err != nil || v != 5 {
			t.Fatalf("%s: x = %v (%v), want 5, the last", what, v, err)
		}
	}
	var c JavaCodec
	ext, err := c.SessionData(&st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeSessionData(ext)
	if err != nil {
		t.Fatal(err)
	}
	check("DecodeSessionData", got)
	b, err := c.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState,
		Sessions: []SessionState{st}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.DecodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Sessions) != 1 {
		t.Fatalf("%d sessions", len(m.Sessions))
	}
	check("EventAllSessionData", m.Sessions[0])
}

// TestLastValues: lastValues keeps one value per name, the last, at the name's first
// place, and returns its input itself when no name repeats, below and above smallNames
// values; 2 000 names there twice come back as 2 000, each with its second value.
func TestLastValues(t *testing.T) {
	nv := func(s string) []NamedValue { // "a1 b2 a3": a=1, b=2, a=3
		var vs []NamedValue
		for i := 0; i+1 < len(s); i += 3 {
			vs = append(vs, NamedValue{Name: s[i : i+1], Value: []byte(s[i+1 : i+2])})
		}
		return vs
	}
	for in, want := range map[string]string{
		"": "", "a1": "a1", "a1 b2": "a1 b2", "a1 a2": "a2", "a1 b2 a3": "a3 b2", "a1 b2 a3 b4 c5 a6": "a6 b4 c5",
		"a1 b2 b3 c4 b5 a6 d7": "a6 b5 c4 d7",
	} {
		if got := lastValues(nv(in)); fmt.Sprint(got) != fmt.Sprint(nv(want)) {
			t.Errorf("lastValues(%s) = %v, want %s", in, got, want)
		}
	}
	for _, n := range []int{3, smallNames, smallNames + 1, 100} {
		var same []NamedValue
		for i := range n {
			same = append(same, NamedValue{Name: "a" + strconv.Itoa(i)})
		}
		if got := lastValues(same); len(got) != n || &got[0] != &same[0] {
			t.Errorf("%d names: lastValues copied values that repeat no name", n)
		}
		// The last name repeated: found above and below smallNames.
		rep := append(slices.Clip(same), NamedValue{Name: "a0", Value: []byte{1}})
		if got := lastValues(rep); len(got) != n || string(got[0].Value) != "\x01" {
			t.Errorf("%d names, the first again last: %d back, first %v", n, len(got), got[0])
		}
	}
	const n = 2000
	var vs []NamedValue
	for round := range 2 {
		for i := range n {
			vs = append(vs, NamedValue{Name: "a" + strconv.Itoa(i), Value: []byte{byte(round)}})
		}
	}
	got := lastValues(vs)
	if len(got) != n || slices.ContainsFunc(got, func(v NamedValue) bool { return v.Value[0] != 1 }) ||
		got[n-1].Name != "a"+strconv.Itoa(n-1) {
		t.Errorf("%d names there twice: %d values back, want %d, each the second", n, len(got), n)
	}
}

// TestLastValuesAllocatesNothing: a session of at most smallNames attributes, none
// repeated (the usual session), costs its decoding no allocation for the check.
func TestLastValuesAllocatesNothing(t *testing.T) {
	var vs []NamedValue
	for i := range smallNames {
		vs = append(vs, NamedValue{Name: "attribute" + strconv.Itoa(i)})
	}
	if a := testing.AllocsPerRun(100, func() { lastValues(vs) }); a != 0 {
		t.Fatalf("%v allocations for %d names none repeated, want 0", a, len(vs))
	}
}

// BenchmarkDecodeSessionData decodes a session of 10 attributes, none repeated (the
// usual session): lastValues adds no allocation to it.
func BenchmarkDecodeSessionData(b *testing.B) {
	st := SessionState{ID: "S", CreationTime: 1, LastAccessedTime: 2, MaxInactive: 3}
	for i := range 10 {
		v, err := JavaValueCodec{}.Marshal(i)
		if err != nil {
			b.Fatal(err)
		}
		st.Attributes = append(st.Attributes, NamedValue{Name: "attribute" + strconv.Itoa(i), Value: v})
	}
	var c JavaCodec
	ext, err := c.SessionData(&st)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeSessionData(ext); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBinaryCodecKeepsTheLastValueOfAName: BinaryCodec, Go's own format, read a session
// naming an attribute more than once with every copy, and a node loading it found the
// first (a Go peer sending a name twice made Get return its first value, where a Tomcat
// stream's repetition gives the last: TestDecodeSessionDataKeepsTheLastValueOfAName). It
// now holds the name once, with the last value and that value's stamp (the stamps
// follow the attributes by index), at the name's first place, in a state transfer chunk
// with and without stamps.
func TestBinaryCodecKeepsTheLastValueOfAName(t *testing.T) {
	for _, stamped := range []bool{false, true} {
		st := SessionState{ID: "S", CreationTime: 1, LastAccessedTime: 2, MaxInactive: 3, stamped: stamped,
			Attributes: []NamedValue{{Name: "x", Value: []byte("1"), version: 1, origin: 7},
				{Name: "y", Value: []byte("2"), version: 2, origin: 7}, {Name: "x", Value: []byte("3"), version: 3, origin: 8},
				{Name: "z", Value: []byte("4"), version: 4, origin: 7}, {Name: "x", Value: []byte("5"), version: 5, origin: 9}}}
		var c BinaryCodec
		b, err := c.AppendMessage(nil, &Message{Event: EventAllSessionData, Context: "c", SessionID: idSessionState,
			Sessions: []SessionState{st}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.DecodeMessage(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Sessions) != 1 {
			t.Fatalf("%d sessions", len(m.Sessions))
		}
		var got []string
		for _, a := range m.Sessions[0].Attributes {
			got = append(got, fmt.Sprintf("%s=%s", a.Name, a.Value))
			if stamped {
				got[len(got)-1] += fmt.Sprintf("@%d/%d", a.version, a.origin)
			}
		}
		want := []string{"x=5", "y=2", "z=4"}
		if stamped {
			want = []string{"x=5@5/9", "y=2@2/7", "z=4@4/7"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("stamped %v: attributes %q, want %q (x once, its last value and stamp)", stamped, got, want)
		}
	}
}
