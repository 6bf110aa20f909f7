package backup_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// stringList returns a list of n distinct strings prefixed p: a value of about n+4 handles.
func stringList(p string, n int) []any {
	v := make([]any, n)
	for i := range v {
		v[i] = fmt.Sprint(p, i)
	}
	return v
}

// backupHolds reports the length of the list attribute name holds in ms[1]'s copy of
// session id, -1 for none.
func backupHolds(t *testing.T, m *backup.Manager, id, name string) int {
	t.Helper()
	v, _, ok := m.Map().Peek(id)
	if !ok {
		t.Fatalf("the backup holds no session %s", id)
	}
	a, ok, err := v.(*backup.Session).Get(name)
	if err != nil {
		t.Fatalf("the backup's %s: %v", name, err)
	}
	if !ok {
		return -1
	}
	if l, ok := a.([]any); ok {
		return len(l)
	}
	return 0
}

// TestSetPastLimitsRefused: Session.Set refuses a value its diff could not carry under
// Limits.Java (100 strings under MaxArrayLen 50) with an error wrapping
// delta.ErrMessageLimit and jserial.ErrLimit, the session unchanged, as session/delta's
// Set does. Before, Set took it, and every Diff of the session failed until the value was
// removed: no later change reached the backup (replmap's full copy takes a Diff first).
// The session keeps replicating: a later change, and a change of the same attribute
// within the limits, reach the backup. A name too long for the diff (writeUTF's 65535
// bytes) is refused too.
func TestSetPastLimitsRefused(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	err = s.Set("k", stringList("s", 100))
	if !errors.Is(err, delta.ErrMessageLimit) || !errors.Is(err, jserial.ErrLimit) {
		t.Fatalf("Set of 100 strings under MaxArrayLen 50: %v, want ErrMessageLimit and jserial.ErrLimit", err)
	}
	if err := s.Set(strings.Repeat("n", 70000), "x"); err == nil {
		t.Errorf("Set of an attribute with a 70000-byte name: nil, want an error")
	}
	if names := s.AttributeNames(); len(names) != 0 || s.Dirty() {
		t.Fatalf("after the refused Sets the session holds %d attributes, dirty %v; want none, clean", len(names), s.Dirty())
	}
	if err := s.Set("other", "x"); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatalf("Replicate of a later change: %v", err)
	}
	if backupHolds(t, ms[1], s.ID(), "other") < 0 {
		t.Errorf("the backup lacks the later change")
	}
	if err := s.Set("k", stringList("s", 10)); err != nil {
		t.Fatalf("Set of 10 strings: %v", err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatalf("Replicate of k within the limits: %v", err)
	}
	if n := backupHolds(t, ms[1], s.ID(), "k"); n != 10 {
		t.Errorf("the backup's k holds %d strings, want 10", n)
	}
}

// TestDiffPastLimitsTogetherLeavesOut: two values within Limits.Java alone (30 strings
// each, under MaxHandles 50) go beyond them together, one handle table for a diff's
// values: Diff failed, the changes stayed pending and every later Replicate failed (its
// full copy too, which takes a Diff first). Now the diff carries the first and leaves
// out the second, Replicate returns an error wrapping delta.ErrMessageLimit naming it,
// Stats.ChangesDroppedPastLimits counts it, the primary keeps its value, and later
// changes, of that attribute too, replicate.
func TestDiffPastLimitsTogetherLeavesOut(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := s.Set(name, stringList(name, 30)); err != nil {
			t.Fatalf("Set %s (30 strings): %v", name, err)
		}
	}
	err = ms[0].Replicate(ctx, s.ID())
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(fmt.Sprint(err), `"b"`) {
		t.Fatalf("Replicate of values past the limits together: %v, want ErrMessageLimit naming b", err)
	}
	if got := ms[0].Stats().ChangesDroppedPastLimits; got != 1 {
		t.Errorf("ChangesDroppedPastLimits %d, want 1", got)
	}
	if n := backupHolds(t, ms[1], s.ID(), "a"); n != 30 {
		t.Errorf("the backup's a holds %d strings, want 30", n)
	}
	if n := backupHolds(t, ms[1], s.ID(), "b"); n != -1 {
		t.Errorf("the backup holds b (%d strings), which was left out", n)
	}
	if v, ok, err := s.Get("b"); !ok || err != nil || len(v.([]any)) != 30 {
		t.Errorf("the primary's b: %v, %v, %v; want its 30 strings", v, ok, err)
	}
	if s.Dirty() {
		t.Errorf("the session is still dirty: the change left out stayed pending")
	}
	if err := s.Set("c", "x"); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatalf("Replicate of a later change: %v", err)
	}
	if backupHolds(t, ms[1], s.ID(), "c") < 0 {
		t.Errorf("the backup lacks the later change")
	}
	if err := s.Set("b", stringList("b", 5)); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatalf("Replicate of b within the limits: %v", err)
	}
	if n := backupHolds(t, ms[1], s.ID(), "b"); n != 5 {
		t.Errorf("the backup's b holds %d strings, want 5", n)
	}
	if got := ms[0].Stats().ChangesDroppedPastLimits; got != 1 {
		t.Errorf("ChangesDroppedPastLimits %d after the later changes, want 1", got)
	}
}

// TestDiffLeavesOutOnlyWhatDoesNotFit: of a session's changes, Diff keeps those that
// go out with the others (the removal, the interval, the first value) and leaves out
// the value that goes beyond the limits together with them; the session holds every
// value still. Its diff applies on a copy.
func TestDiffLeavesOutOnlyWhatDoesNotFit(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}}
	s := backup.NewSession("S1.go", time.Hour, limits)
	cp := backup.NewSession("S1.go", time.Hour, limits)
	for _, ss := range []*backup.Session{s, cp} {
		if err := ss.Set("gone", "x"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Diff(); err != nil {
		t.Fatal(err)
	}
	s.Remove("gone")
	if err := s.Set("a", stringList("a", 30)); err != nil {
		t.Fatal(err)
	}
	s.SetMaxInactive(2 * time.Hour)
	if err := s.Set("b", stringList("b", 30)); err != nil {
		t.Fatal(err)
	}
	if got := diffOnto(t, s, cp); got != "a" || cp.MaxInactive() != 2*time.Hour {
		t.Errorf("the copy holds %q, interval %v; want a alone (gone removed, b left out), 2h", got, cp.MaxInactive())
	}
	if got := strings.Join(s.AttributeNames(), ","); got != "a,b" {
		t.Errorf("the session holds %q, want a,b", got)
	}
}

// TestDiffPastLimitsKeepsALaterValueThatFits: of values within Limits.Java alone that go
// beyond them together, Diff kept the longest leading run that fits, so a small value
// after a large one left out was left out too. It now keeps each value that fits with
// those kept before it: under MaxHandles 50, a (30 strings) is kept, b (30 strings, past
// the limit with a) left out, and c (5 strings, within it with a) kept.
func TestDiffPastLimitsKeepsALaterValueThatFits(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}}
	s := backup.NewSession("S1.go", time.Hour, limits)
	cp := backup.NewSession("S1.go", time.Hour, limits)
	for _, v := range []struct {
		name string
		n    int
	}{{"a", 30}, {"b", 30}, {"c", 5}} {
		if err := s.Set(v.name, stringList(v.name, v.n)); err != nil {
			t.Fatal(err)
		}
	}
	if got := diffOnto(t, s, cp); got != "a,c" {
		t.Errorf("the copy holds %q, want a,c (b left out)", got)
	}
	if got := strings.Join(s.AttributeNames(), ","); got != "a,b,c" {
		t.Errorf("the session holds %q, want a,b,c", got)
	}
}

// TestDiffKeepsALaterEqualSizeValueThatFits: Diff left out, without trying it, every
// value after one left out that was not smaller alone (declimits.FirstFit's sizes
// rule). Under MaxHandles 50, a (30 strings) is kept and b (30 strings, past the limit
// with a) left out; c, a single string at least as large as b alone, takes one handle
// and fits beside a: it is now kept.
func TestDiffKeepsALaterEqualSizeValueThatFits(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}}
	size := func(name string, v any) int {
		b, err := delta.JavaValueCodec{}.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d, err := limits.Java.EncodeDeltaRequest("S2.go", []delta.Action{
			{Type: delta.ActionAttribute, Op: delta.OpSet, Name: name, Value: b}})
		if err != nil {
			t.Fatal(err)
		}
		return len(d)
	}
	c := "c"
	for size("c", c) < size("b", stringList("b", 30)) {
		c += "c"
	}
	s := backup.NewSession("S2.go", time.Hour, limits)
	cp := backup.NewSession("S2.go", time.Hour, limits)
	if err := errors.Join(s.Set("a", stringList("a", 30)), s.Set("b", stringList("b", 30)), s.Set("c", c)); err != nil {
		t.Fatal(err)
	}
	if got := diffOnto(t, s, cp); got != "a,c" {
		t.Errorf("the copy holds %q, want a,c (b left out, c of b's size alone kept)", got)
	}
}

// diffOnto takes s's Diff, which must leave out what does not fit rather than fail,
// applies it to cp, and returns the names cp then holds, comma-separated.
func diffOnto(t *testing.T, s, cp *backup.Session) string {
	t.Helper()
	d, err := s.Diff()
	if err != nil {
		t.Fatalf("Diff: %v, want the changes that fit", err)
	}
	if err := cp.ApplyDiff(d); err != nil {
		t.Fatal(err)
	}
	return strings.Join(cp.AttributeNames(), ",")
}
