package backup_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestApplyDiffListenersBoundedByMaxEntries: each diff of a peer is bounded by
// Limits.Java.MaxEntries actions, but the listeners its diffs attach add up, and
// MaxSessionBytes counts none of them: a diff that would make them more than MaxEntries
// (4) was refused whole with ErrLimit, its attribute too, and a Tomcat primary whose
// session held more listeners went on sending diffs the backup refused. Such a diff is
// now applied with the first 4 listeners (those the backup held first), its attribute
// set; the listeners left out are counted in the backup's Stats.DiffListenersLeftOut
// (1, then 2 more) and logged once for the session.
func TestApplyDiffListenersBoundedByMaxEntries(t *testing.T) {
	logBuf := &testutil.Buffer{}
	limits := backup.Limits{Java: delta.JavaCodec{MaxEntries: 4}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits,
		Logger: slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(s.AttachListener("sso0"), s.AttachListener("sso1"), ms[0].Replicate(ctx, s.ID())); err != nil {
		t.Fatal(err)
	}
	v, _, ok := ms[1].Map().Peek(s.ID())
	if !ok {
		t.Fatal("the backup holds no copy")
	}
	cp := v.(*backup.Session)
	// Diffs as a Tomcat primary holding more listeners writes them.
	diff := func(attr string, listeners ...string) []byte {
		t.Helper()
		b, err := delta.JavaValueCodec{}.Marshal(attr)
		if err != nil {
			t.Fatal(err)
		}
		as := []delta.Action{{Type: delta.ActionAttribute, Op: delta.OpSet, Name: attr, Value: b}}
		for _, l := range listeners {
			as = append(as, delta.Action{Type: delta.ActionListener, Op: delta.OpSet, Name: l, Value: []byte{}})
		}
		d, err := delta.JavaCodec{}.EncodeDeltaRequest(s.ID(), as)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if err := cp.ApplyDiff(diff("a", "sso2", "sso3", "sso4")); err != nil {
		t.Fatalf("a diff attaching listeners past MaxEntries 4: %v, want it applied", err)
	}
	if got := cp.Listeners(); !slices.Equal(got, []string{"sso0", "sso1", "sso2", "sso3"}) {
		t.Errorf("listeners %q, want the first four", got)
	}
	if got := cp.AttributeNames(); !slices.Equal(got, []string{"a"}) {
		t.Errorf("attributes %q, want the diff's a", got)
	}
	if got := ms[1].Stats().DiffListenersLeftOut; got != 1 {
		t.Errorf("DiffListenersLeftOut %d, want 1", got)
	}
	if err := cp.ApplyDiff(diff("b", "sso5", "sso6")); err != nil {
		t.Fatal(err)
	}
	if got := cp.AttributeNames(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("attributes %q, want a, b", got)
	}
	if got := ms[1].Stats().DiffListenersLeftOut; got != 3 {
		t.Errorf("DiffListenersLeftOut %d, want 3", got)
	}
	if n := strings.Count(logBuf.String(), "listeners a diff attached left out"); n != 1 {
		t.Errorf("logged %d times, want once for the session:\n%s", n, logBuf.String())
	}
}

// TestDiffLeavesOutListenersPastMaxEntries: a Go primary's diff attaching listeners past
// Limits.Java.MaxEntries (4), which a backup configured alike does not carry, leaves them
// out: Replicate sends the rest (the backup holds the first 4 and the attribute) and
// returns an error wrapping delta.ErrMessageLimit naming them, counted in
// ChangesDroppedPastLimits, and the next Replicate reports nothing. Before, the backup
// refused the whole diff (ErrLimit): Replicate failed, and the session went in full.
func TestDiffLeavesOutListenersPastMaxEntries(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{MaxEntries: 4}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := s.AttachListener(fmt.Sprint("sso", i)); err != nil {
			t.Fatal(err)
		}
		if i == 2 { // 3 changes, then 4: each diff within MaxEntries
			if err := ms[0].Replicate(ctx, s.ID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Set("a", "x"); err != nil {
		t.Fatal(err)
	}
	err = ms[0].Replicate(ctx, s.ID())
	if !errors.Is(err, delta.ErrMessageLimit) ||
		!strings.Contains(fmt.Sprint(err), `left out of its diff, not replicated and no longer pending: listener "sso4", listener "sso5"`) {
		t.Fatalf("Replicate: %v, want ErrMessageLimit naming sso4 and sso5, left out of its diff", err)
	}
	if got := ms[0].Stats().ChangesDroppedPastLimits; got != 2 {
		t.Errorf("ChangesDroppedPastLimits %d, want 2", got)
	}
	v, _, ok := ms[1].Map().Peek(s.ID())
	if !ok {
		t.Fatal("the backup holds no copy")
	}
	cp := v.(*backup.Session)
	if got := cp.Listeners(); !slices.Equal(got, []string{"sso0", "sso1", "sso2", "sso3"}) {
		t.Errorf("the backup's listeners %q, want the first four", got)
	}
	if backupHolds(t, ms[1], s.ID(), "a") < 0 {
		t.Errorf("the backup lacks a")
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Errorf("the next Replicate: %v, want nil (reported once)", err)
	}
	if got := len(s.Listeners()); got != 6 {
		t.Errorf("the primary holds %d listeners, want 6", got)
	}
}

// TestApplyDiffListenerLeftOutNotTakenBack: the listeners a backup carries past a
// Tomcat primary's MaxEntries are the first its own copy held, not the primary's first:
// with MaxEntries 2, sso0 and sso1 held and sso2 left out, a diff detaching sso0 and
// attaching sso3 leaves the backup sso1 and sso3, where the primary holds sso1, sso2,
// sso3. The backup does not know sso2 (counted and logged when left out) and cannot
// take it back.
func TestApplyDiffListenerLeftOutNotTakenBack(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{MaxEntries: 2}}
	s := backup.NewSession("S1", 0, limits)
	if err := errors.Join(s.AttachListener("sso0"), s.AttachListener("sso1")); err != nil {
		t.Fatal(err)
	}
	b, err := s.Diff()
	if err != nil {
		t.Fatal(err)
	}
	cp := backup.NewSession("S1", 0, limits)
	if err := cp.ApplyDiff(b); err != nil {
		t.Fatal(err)
	}
	diff := func(as ...delta.Action) []byte {
		t.Helper()
		d, err := delta.JavaCodec{}.EncodeDeltaRequest("S1", as)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	listener := func(op delta.Op, name string) delta.Action {
		return delta.Action{Type: delta.ActionListener, Op: op, Name: name, Value: []byte{}}
	}
	if err := cp.ApplyDiff(diff(listener(delta.OpSet, "sso2"))); err != nil {
		t.Fatal(err)
	}
	if err := cp.ApplyDiff(diff(listener(delta.OpRemove, "sso0"), listener(delta.OpSet, "sso3"))); err != nil {
		t.Fatal(err)
	}
	if got, want := cp.Listeners(), []string{"sso1", "sso3"}; !slices.Equal(got, want) {
		t.Errorf("the backup's listeners %q, want %q (its own first two; sso2 not taken back)", got, want)
	}
}
