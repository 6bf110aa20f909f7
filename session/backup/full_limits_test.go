package backup_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// arrayLimits is Limits.Java with MaxArrayLen 50, which a list of 100 strings passes.
var arrayLimits = backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 50}}}

// sessionPastArrayLimit is a session id as received in full (no changes pending) holding
// big, a list of 100 strings (past arrayLimits), and small.
func sessionPastArrayLimit(t *testing.T, id string) *backup.Session {
	t.Helper()
	s := backup.NewSession(id, time.Hour, backup.Limits{})
	if err := errors.Join(s.Set("big", stringList("s", 100)), s.Set("small", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Diff(); err != nil { // received in full: no changes pending
		t.Fatal(err)
	}
	return s
}

// TestFullCopyLeavesOutAValuePastLimits: a session received in full may hold a value
// past Limits.Java (the map's decoder, with its own limits, read it), here a list of 100
// strings under MaxArrayLen 50, put on node 0 (Put sends it in full, as the publish of a
// backup a failover made primary does). Its full copy (Codec.Encode) was refused whole:
// Put failed, and a failover's publish sent the session to no new backup, each later
// Replicate failing, the other values on no other node. The value is now left out of the
// full copy and the others go (the backup holds "small"), the next Replicate returns an
// error wrapping delta.ErrMessageLimit naming it, once, Stats.FullCopyValuesLeftOut
// counts it, and this node keeps it.
func TestFullCopyLeavesOutAValuePastLimits(t *testing.T) {
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: arrayLimits})
	ctx := context.Background()
	// A session the defaults took, as the map's decoder did.
	s := sessionPastArrayLimit(t, "FULL1.n0")
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatalf("Put of a session holding a value past Limits.Java: %v, want its other values sent", err)
	}
	if backupHolds(t, ms[1], s.ID(), "small") < 0 {
		t.Errorf("the backup lacks small")
	}
	if n := backupHolds(t, ms[1], s.ID(), "big"); n != -1 {
		t.Errorf("the backup holds big (%d strings), past its limits", n)
	}
	err := ms[0].Replicate(ctx, s.ID())
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(fmt.Sprint(err), `"big"`) ||
		!strings.Contains(fmt.Sprint(err), "full copy") {
		t.Fatalf("Replicate after the full copy: %v, want ErrMessageLimit naming big, left out of its full copy", err)
	}
	if got := ms[0].Stats().FullCopyValuesLeftOut; got != 1 {
		t.Errorf("FullCopyValuesLeftOut %d, want 1", got)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Errorf("the next Replicate: %v, want nil (reported once)", err)
	}
	if v, ok, err := s.Get("big"); !ok || err != nil || len(v.([]any)) != 100 {
		t.Errorf("the primary's big: %v, %v; want its 100 strings", ok, err)
	}
	if got := ms[0].Stats().ChangesDroppedPastLimits; got != 0 {
		t.Errorf("ChangesDroppedPastLimits %d, want 0 (no change was left out of a diff)", got)
	}
	// Changes replicate on.
	if err := s.Set("later", "y"); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatalf("Replicate of a later change: %v", err)
	}
	if backupHolds(t, ms[1], s.ID(), "later") < 0 {
		t.Errorf("the backup lacks the later change")
	}
}

// TestFullCopyCarriesWhatADiffLeftOut: replmap's full copy takes the session's Diff
// first, to forget its changes; that Diff left out b (a and b, 30 strings each, go past
// MaxHandles 50 together) although the full copy carried it, and Replicate reported b
// left out (an error wrapping delta.ErrMessageLimit, ChangesDroppedPastLimits 1). A full
// copy now clears what Diffs left out: Replicate returns nil, the backup holds b.
func TestFullCopyCarriesWhatADiffLeftOut(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := s.Set(name, stringList(name, 30)); err != nil {
			t.Fatal(err)
		}
	}
	// Put of a dirty session: the next Replicate sends it in full (replmap's
	// dirtyDiffable), taking its Diff first.
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Errorf("Replicate sending the session in full: %v, want nil (the full copy carries b)", err)
	}
	if got := ms[0].Stats().ChangesDroppedPastLimits; got != 0 {
		t.Errorf("ChangesDroppedPastLimits %d, want 0", got)
	}
	for _, name := range []string{"a", "b"} {
		if n := backupHolds(t, ms[1], s.ID(), name); n != 30 {
			t.Errorf("the backup's %s holds %d strings, want 30", name, n)
		}
	}
	if s.Dirty() {
		t.Errorf("the session is still dirty")
	}
}

// TestFullCopyKeepsTheDiffReportOfWhatItLeftOut: a full copy cleared the report of every
// value Diffs left out, also of one it left out itself. Here the session's own limits
// (MaxHandles 50) make its Diff leave out b (40 strings) and d (10 lists of 3 strings)
// beside a (10 strings); the map's Codec (MaxArrayLen 20) leaves b out of the full copy
// of a Put (a list of 40), and carries a and d. The next Replicate now reports b as
// left out of the diff (ChangesDroppedPastLimits 1) and of the full copy
// (FullCopyValuesLeftOut 1), and not d, which the backup holds.
func TestFullCopyKeepsTheDiffReportOfWhatItLeftOut(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxArrayLen: 20}}}
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits})
	ctx := context.Background()
	own := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}}
	s := backup.NewSession("FULL3.n0", time.Hour, own)
	d := make([]any, 10)
	for i := range d {
		d[i] = stringList(fmt.Sprint("d", i, "."), 3)
	}
	if err := errors.Join(s.Set("a", stringList("a", 10)), s.Set("b", stringList("b", 40)), s.Set("d", d)); err != nil {
		t.Fatal(err)
	}
	diff, err := s.Diff()
	if err != nil {
		t.Fatal(err)
	}
	cp := backup.NewSession("FULL3.n0", time.Hour, own)
	if err := cp.ApplyDiff(diff); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cp.AttributeNames(), ","); got != "a" {
		t.Fatalf("the diff carries %q, the test needs a alone (b and d left out)", got)
	}
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatal(err)
	}
	if n := backupHolds(t, ms[1], s.ID(), "d"); n != 10 {
		t.Fatalf("the backup's d holds %d lists, want 10 (the full copy carries it)", n)
	}
	if n := backupHolds(t, ms[1], s.ID(), "b"); n != -1 {
		t.Fatalf("the backup holds b (%d strings), past its MaxArrayLen", n)
	}
	err = ms[0].Replicate(ctx, s.ID())
	msg := fmt.Sprint(err)
	diffPart, fullPart, _ := strings.Cut(msg, "left out of its full copy")
	if !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(diffPart, `left out of its diff`) ||
		!strings.Contains(diffPart, `attribute "b"`) || strings.Contains(msg, `"d"`) || !strings.Contains(fullPart, `"b"`) {
		t.Errorf("Replicate: %v; want b reported left out of the diff and of the full copy, d not", err)
	}
	if st := ms[0].Stats(); st.ChangesDroppedPastLimits != 1 || st.FullCopyValuesLeftOut != 1 {
		t.Errorf("ChangesDroppedPastLimits %d, FullCopyValuesLeftOut %d; want 1 and 1", st.ChangesDroppedPastLimits,
			st.FullCopyValuesLeftOut)
	}
}

// TestFullCopyValuesLeftOutCountedWhereTheyHappen: Stats.FullCopyValuesLeftOut counted
// a value left out of a full copy only when a Replicate of the session reported it: a
// session Put (or renamed) and not replicated after counted nothing. It is now counted
// as the full copy is made: 1 after the Put (whose value the map encodes twice), still 1
// after a second Put and the Replicate that reports it, 2 after ChangeSessionID puts the
// session again under its new id, and its Replicate reports it again.
func TestFullCopyValuesLeftOutCountedWhereTheyHappen(t *testing.T) {
	ms, _ := startManagerNodes(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: arrayLimits})
	ctx := context.Background()
	s := sessionPastArrayLimit(t, "FULL4.n0")
	counted := func(step string, want uint64) {
		t.Helper()
		if got := ms[0].Stats().FullCopyValuesLeftOut; got != want {
			t.Errorf("after %s: FullCopyValuesLeftOut %d, want %d", step, got, want)
		}
	}
	reported := func(id string) {
		t.Helper()
		if err := ms[0].Replicate(ctx, id); !errors.Is(err, delta.ErrMessageLimit) || !strings.Contains(fmt.Sprint(err), `"big"`) {
			t.Errorf("Replicate of %s: %v, want big reported", id, err)
		}
	}
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatal(err)
	}
	counted("the Put", 1)
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatal(err)
	}
	counted("a second Put before a report", 1)
	reported(s.ID())
	counted("the Replicate reporting it", 1)
	if err := ms[0].ChangeSessionID(ctx, s, "FULL4.n1"); err != nil {
		t.Fatal(err)
	}
	counted("ChangeSessionID", 2)
	reported("FULL4.n1")
	counted("the Replicate reporting it", 2)
	if backupHolds(t, ms[1], "FULL4.n1", "small") < 0 {
		t.Errorf("the backup lacks small under the new id")
	}
}

// failSend is an interceptor whose next fail sends fail.
type failSend struct {
	channel.InterceptorBase
	fail atomic.Int32
}

func (f *failSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if f.fail.Add(-1) >= 0 {
		return errors.New("failSend: send failed")
	}
	return f.InterceptorBase.SendMessage(ctx, to, msg)
}

// TestFullCopyAfterAFailedSendReportsAgain: a Replicate whose send fails reports the
// values the Put's full copy left out (big, past MaxArrayLen 50) beside the failure,
// and the next Replicate sends the session in full (replmap: a failed send is followed
// by a full value), which leaves big out again and reports it again, counted again
// (once per report), the change the failed send carried (w0) now on the backup. A
// pinning test: it passed before.
func TestFullCopyAfterAFailedSendReportsAgain(t *testing.T) {
	fail := &failSend{}
	ms, _ := startManagerNodesWith(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: arrayLimits},
		map[int]channel.Interceptor{0: fail})
	ctx := context.Background()
	s := bigAndW1(t, ms[0], "FULL6.n0")
	if err := s.Set("w0", "x"); err != nil {
		t.Fatal(err)
	}
	fail.fail.Store(1)
	err := ms[0].Replicate(ctx, s.ID())
	if err == nil || !strings.Contains(err.Error(), "failSend") || !strings.Contains(err.Error(), `"big"`) {
		t.Fatalf("Replicate whose send fails: %v; want the failure and big reported", err)
	}
	err = ms[0].Replicate(ctx, s.ID())
	if !errors.Is(err, delta.ErrMessageLimit) || strings.Contains(err.Error(), "failSend") ||
		!strings.Contains(err.Error(), `left out of its full copy, not on the other nodes: attribute "big"`) {
		t.Fatalf("the next Replicate: %v; want big reported again", err)
	}
	if got := ms[0].Stats().FullCopyValuesLeftOut; got != 2 {
		t.Errorf("FullCopyValuesLeftOut %d, want 2 (once per report)", got)
	}
	if backupHolds(t, ms[1], s.ID(), "w0") < 0 || backupHolds(t, ms[1], s.ID(), "big") != -1 {
		t.Errorf("the backup holds w0 %v, big %v; want w0 and no big", backupHolds(t, ms[1], s.ID(), "w0") >= 0,
			backupHolds(t, ms[1], s.ID(), "big") >= 0)
	}
}

// bigAndW1 puts on m a session id received in full holding big (100 strings) and w1 (30
// strings), taken under the default limits: its full copy under m's leaves big out.
func bigAndW1(t *testing.T, m *backup.Manager, id string) *backup.Session {
	t.Helper()
	s := backup.NewSession(id, time.Hour, backup.Limits{})
	if err := errors.Join(s.Set("big", stringList("s", 100)), s.Set("w1", stringList("w", 30))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Diff(); err != nil { // received in full: no changes pending
		t.Fatal(err)
	}
	if _, err := m.Map().Put(context.Background(), s.ID(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFullCopyWhoseSendFailsKeepsTheDiffReport: after a failed send (of a's diff) the
// next Replicate sends the session in full, taking its Diff first, which leaves out c
// (b and c, 30 strings each, go past MaxHandles 50 together); the full copy carries c,
// which dropped c's report as the copy was made, and its send fails too: that Replicate
// returned the failure alone, c on no other node and not named. It now names c left out
// of the diff beside the failure (ChangesDroppedPastLimits 1), and the Replicate after,
// whose full copy is sent, reports nothing: the backup holds a, b and c.
func TestFullCopyWhoseSendFailsKeepsTheDiffReport(t *testing.T) {
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxHandles: 50}}}
	fail := &failSend{}
	ms, _ := startManagerNodesWith(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: limits},
		map[int]channel.Interceptor{0: fail})
	ctx := context.Background()
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("a", "x"); err != nil {
		t.Fatal(err)
	}
	fail.fail.Store(1)
	if err := ms[0].Replicate(ctx, s.ID()); err == nil || !strings.Contains(err.Error(), "failSend") {
		t.Fatalf("Replicate whose send fails: %v, want the failure", err)
	}
	if err := errors.Join(s.Set("b", stringList("b", 30)), s.Set("c", stringList("c", 30))); err != nil {
		t.Fatal(err)
	}
	fail.fail.Store(1)
	err = ms[0].Replicate(ctx, s.ID())
	if err == nil || !strings.Contains(err.Error(), "failSend") || !errors.Is(err, delta.ErrMessageLimit) ||
		!strings.Contains(err.Error(), `left out of its diff, not replicated and no longer pending: attribute "c"`) {
		t.Fatalf("Replicate whose full copy's send fails: %v; want the failure and c reported left out of the diff", err)
	}
	if got := ms[0].Stats().ChangesDroppedPastLimits; got != 1 {
		t.Errorf("ChangesDroppedPastLimits %d, want 1", got)
	}
	if err := ms[0].Replicate(ctx, s.ID()); err != nil {
		t.Fatalf("the next Replicate, sent in full: %v, want nil (its copy carries c)", err)
	}
	for name, want := range map[string]int{"a": 0, "b": 30, "c": 30} {
		if got := backupHolds(t, ms[1], s.ID(), name); got != want {
			t.Errorf("the backup's %s: %d, want %d", name, got, want)
		}
	}
	if got := ms[0].Stats().ChangesDroppedPastLimits; got != 1 {
		t.Errorf("ChangesDroppedPastLimits %d after the copy sent, want still 1", got)
	}
}
