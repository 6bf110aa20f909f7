package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// TestFailedFullCopyKeepsTheReportOfTheLastOne: a full copy that failed (here for a
// value that is not a Java stream, which no session taken by Set or received holds)
// forgot the values the previous full copy left out, not reported yet: no Replicate named
// them (takeLeftOut returned nil; failed before), and its error was the limits' refusal
// of big rather than SessionData's (failed before). The report now stays until a
// Replicate takes it, the failed copy not counting big again; the full copy after the
// report counts it again: 2 in all.
func TestFailedFullCopyKeepsTheReportOfTheLastOne(t *testing.T) {
	java := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}
	s := NewSession("S1", 0, Limits{})
	big := make([]any, 100)
	for i := range big {
		big[i] = "s"
	}
	if err := errors.Join(s.Set("big", big), s.Set("small", "x")); err != nil {
		t.Fatal(err)
	}
	var counted atomic.Uint64
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.fullCopy(copyLimits{java: java}, &counted); err != nil {
		t.Fatal(err)
	}
	s.st.Attributes = append(s.st.Attributes, delta.NamedValue{Name: "bad", Value: []byte("not a stream")})
	if _, err := s.fullCopy(copyLimits{java: java}, &counted); err == nil || !strings.Contains(err.Error(), "not a Java serialization stream") {
		t.Errorf("full copy of a value that is not a Java stream: %v, want SessionData's error", err)
	}
	s.st.Attributes = s.st.Attributes[:len(s.st.Attributes)-1]
	s.mu.Unlock()
	_, err := s.takeLeftOut(true)
	s.mu.Lock()
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(err.Error(), `left out of its full copy, not on the other nodes: attribute "big"`) {
		t.Errorf("after a failed full copy: %v, want big reported left out of the one before", err)
	}
	if _, err := s.fullCopy(copyLimits{java: java}, &counted); err != nil {
		t.Fatal(err)
	}
	if got := counted.Load(); got != 2 {
		t.Errorf("counted %d, want 2: once, and once again after the report", got)
	}
}

// TestCarriedReportGivenBackUnlessSent: a full copy under MaxArrayLen 50 leaves big (100
// strings) out, one under the defaults then carries it, which took big off the report as
// it was made. takeLeftOut now gives that report back unless the Replicate sent (the
// copy carrying big may not have left), and drops it when it sent; either way the next
// call reports nothing.
func TestCarriedReportGivenBackUnlessSent(t *testing.T) {
	tight := delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}
	for _, sent := range []bool{false, true} {
		s := NewSession("S1", 0, Limits{})
		big := make([]any, 100)
		for i := range big {
			big[i] = "s"
		}
		if err := s.Set("big", big); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		_, err1 := s.fullCopy(copyLimits{java: tight}, nil)
		_, err2 := s.fullCopy(copyLimits{}, nil)
		s.mu.Unlock()
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		_, err := s.takeLeftOut(sent)
		if got := err != nil && strings.Contains(err.Error(), `left out of its full copy, not on the other nodes: attribute "big"`); got == sent {
			t.Errorf("sent %v: %v; want big reported %v", sent, err, !sent)
		}
		if _, err := s.takeLeftOut(false); err != nil {
			t.Errorf("sent %v: the next takeLeftOut: %v, want nil", sent, err)
		}
	}
}

// TestHandleBound: handleBound, which spares a full copy writing and reading its stream
// again (mapReads), is at least the handles the stream takes: a session of 40
// listeners, of 30 attributes, of notes, of a list of 100 strings, of a principal of 2
// and of 100 roles reads within it (principalBound's added, and the principal's within
// principalDepth), and those of listeners, attributes, the list and 100 roles take more
// than 20 (the check counts).
func TestHandleBound(t *testing.T) {
	val := func(v any) []byte {
		b, err := delta.JavaValueCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var listeners, attrs, notes, list, principal, principalMany delta.SessionState
	for i := range 40 {
		listeners.Listeners = append(listeners.Listeners, fmt.Sprint("SSO", i))
	}
	for i := range 30 {
		attrs.Attributes = append(attrs.Attributes, delta.NamedValue{Name: fmt.Sprint("a", i), Value: val(i)})
	}
	notes.Notes = []delta.NamedValue{{Name: delta.NoteSessionID, Value: []byte("x")},
		{Name: delta.NoteRequest, Value: val([]any{"a", "b"})}}
	list.Attributes = []delta.NamedValue{{Name: "list", Value: val(stringsOf(100))}}
	principal.Principal = &delta.Principal{Name: "alice", Roles: []string{"user", "admin"}}
	principalMany.Principal = &delta.Principal{Name: "bob"}
	for i := range 100 {
		principalMany.Principal.Roles = append(principalMany.Principal.Roles, fmt.Sprint("r", i))
	}
	for i, tc := range []struct {
		st   delta.SessionState
		many bool
	}{{delta.SessionState{}, false}, {listeners, true}, {attrs, true}, {notes, false}, {list, true},
		{principal, false}, {principalMany, true}} {
		st := tc.st
		st.ID = "S1"
		n, ok := principalBound(jserial.DecoderConfig{}, st.Principal)
		if !ok {
			t.Fatalf("session %d: principal of a name and roles not bounded", i)
		}
		bound := handleBound(&st) + n
		ext, err := delta.JavaCodec{}.SessionData(&st)
		if err != nil {
			t.Fatal(err)
		}
		b, err := jserial.Marshal(&jserial.Object{Class: deltaSessionDesc, External: ext})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jserial.UnmarshalConfig(b, jserial.DecoderConfig{MaxHandles: bound}); err != nil {
			t.Errorf("session %d: read within the bound %d: %v", i, bound, err)
		}
		if st.Principal != nil {
			if _, err := jserial.UnmarshalConfig(b, jserial.DecoderConfig{MaxDepth: principalDepth}); err != nil {
				t.Errorf("session %d: read within principalDepth %d: %v", i, principalDepth, err)
			}
		}
		_, err = jserial.UnmarshalConfig(b, jserial.DecoderConfig{MaxHandles: 20})
		if tc.many && !errors.Is(err, jserial.ErrLimit) {
			t.Errorf("session %d: read within 20 handles: %v, want jserial.ErrLimit", i, err)
		}
	}
}

// stringsOf returns n distinct strings.
func stringsOf(n int) []any {
	v := make([]any, n)
	for i := range v {
		v[i] = fmt.Sprint("s", i)
	}
	return v
}

// TestPrincipalBoundReadsTheOthers: principalBound bounds a principal of a name and
// roles only; one with attributes, a user principal, more roles than the map's
// MaxArrayLen or under a MaxDepth below principalDepth is not bounded, its session's
// stream read (mapReads): a principal of 20 roles under MaxArrayLen 10 is refused.
func TestPrincipalBoundReadsTheOthers(t *testing.T) {
	roles := func(n int) []string {
		r := make([]string, n)
		for i := range r {
			r[i] = fmt.Sprint("r", i)
		}
		return r
	}
	for i, tc := range []struct {
		p    *delta.Principal
		wire jserial.DecoderConfig
	}{
		{&delta.Principal{Name: "a", Attributes: map[string]any{"k": "v"}}, jserial.DecoderConfig{}},
		{&delta.Principal{Name: "a", User: &delta.Principal{Name: "u"}}, jserial.DecoderConfig{}},
		{&delta.Principal{Name: "a", Roles: roles(20)}, jserial.DecoderConfig{MaxArrayLen: 10}},
		{&delta.Principal{Name: "a"}, jserial.DecoderConfig{MaxDepth: principalDepth - 1}},
	} {
		if _, ok := principalBound(tc.wire, tc.p); ok {
			t.Errorf("principal %d bounded, want its stream read", i)
		}
	}
	st := delta.SessionState{ID: "S1", Principal: &delta.Principal{Name: "a", Roles: roles(20)}}
	ext, err := delta.JavaCodec{}.SessionData(&st)
	if err != nil {
		t.Fatal(err)
	}
	if err := mapReads(jserial.DecoderConfig{MaxArrayLen: 10}, &st, ext); !errors.Is(err, delta.ErrMessageLimit) {
		t.Errorf("20 roles under MaxArrayLen 10: %v, want ErrMessageLimit", err)
	}
}

// TestFullCopyOfAPrincipalReadsNoStream: a full copy of a session with a principal
// wrote and read its whole stream again (mapReads) however few its handles: a principal
// of a name and roles is now bounded (principalBound), and mapReads allocates less than
// writing the stream alone would.
func TestFullCopyOfAPrincipalReadsNoStream(t *testing.T) {
	st := delta.SessionState{ID: "S1", Principal: &delta.Principal{Name: "alice", Roles: []string{"user", "admin"}}}
	for i := range 10 {
		v, err := delta.JavaValueCodec{}.Marshal(fmt.Sprint("value ", i))
		if err != nil {
			t.Fatal(err)
		}
		st.Attributes = append(st.Attributes, delta.NamedValue{Name: fmt.Sprint("a", i), Value: v})
	}
	ext, err := delta.JavaCodec{}.SessionData(&st)
	if err != nil {
		t.Fatal(err)
	}
	reads := testing.AllocsPerRun(20, func() {
		if err := mapReads(jserial.DecoderConfig{}, &st, ext); err != nil {
			t.Fatal(err)
		}
	})
	writes := testing.AllocsPerRun(20, func() {
		if _, err := jserial.Marshal(&jserial.Object{Class: deltaSessionDesc, External: ext}); err != nil {
			t.Fatal(err)
		}
	})
	if reads >= writes {
		t.Errorf("mapReads allocated %v times, writing the stream alone %v: want fewer (not written)", reads, writes)
	}
}

// FuzzHandleBound: handleBound is at least the handles of a session's stream whatever
// its values: a session holding the fuzzed value (any Java stream JavaCodec reads) under
// two names, a note and a listener reads within it. Seeds: jserial's test streams.
func FuzzHandleBound(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "..", "jserial", "testdata", "*.ser"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, v := range []any{"x", stringsOf(10), []any{[]any{"a"}, map[string]any{"k": int64(1) << 40}}} {
		b, err := delta.JavaValueCodec{}.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		st := delta.SessionState{ID: "S1", Attributes: []delta.NamedValue{{Name: "a", Value: value}, {Name: "b", Value: value}},
			Notes: []delta.NamedValue{{Name: delta.NoteSessionID, Value: []byte("id")}}, Listeners: []string{"SSO1"}}
		ext, err := delta.JavaCodec{}.SessionData(&st)
		if err != nil {
			return // not a value a session holds
		}
		b, err := jserial.Marshal(&jserial.Object{Class: deltaSessionDesc, External: ext})
		if err != nil {
			return
		}
		if _, err := jserial.UnmarshalConfig(b, jserial.DecoderConfig{MaxHandles: handleBound(&st)}); errors.Is(err, jserial.ErrLimit) {
			t.Errorf("a session of a %d-byte value: read within handleBound %d: %v", len(value), handleBound(&st), err)
		}
	})
}
