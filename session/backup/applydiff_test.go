package backup_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// A diff setting many distinct attributes must apply in time linear in its actions
// (Tomcat's DeltaRequest.execute puts each into the session's ConcurrentHashMap): a diff
// of more than a few actions looks names up in maps (TestApplyDiffIndexedSameAsScan
// checks the result is the scans'). Before, Session.ApplyDiff looked each action's name up
// by a linear scan of the attributes (setNamed, also slices.DeleteFunc for removals): n
// actions cost n²/2 string comparisons, under the session's lock. A 1.4 MB diff of 60 000
// attributes (each value a 5-byte reference to one string) took seconds, 2.3 MB of 100 000
// about 16 s; the transport's 16 MiB frame holds 700 000 of them, and the MaxSessionBytes
// check runs only after the loop. The test counts the names scanned (no timing): a
// quadratic apply scans about n²/2 of them for the sets and as many for the removals.
func TestApplyDiffManyAttributesLinear(t *testing.T) {
	const id, n = "A1.node1", 20000
	diff := func(set bool) []byte {
		var w jserial.DataWriter
		if err := w.WriteUTF(id); err != nil {
			t.Fatal(err)
		}
		w.WriteBool(false)
		w.WriteInt32(n)
		for i := range n {
			op := delta.OpRemove
			if set {
				op = delta.OpSet
			}
			w.WriteInt32(int32(delta.ActionAttribute))
			w.WriteInt32(int32(op))
			if err := w.WriteUTF(fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
			w.WriteBool(set)
			if set {
				w.WriteObject("x")
			}
		}
		return javaStream(t, w.Contents())
	}
	var scanned int
	defer backup.CountScans(&scanned)()

	s := backup.NewSession(id, time.Hour, backup.Limits{})
	if err := s.ApplyDiff(diff(true)); err != nil {
		t.Fatal(err)
	}
	if got := len(s.AttributeNames()); got != n {
		t.Fatalf("%d attributes, want %d", got, n)
	}
	if err := s.ApplyDiff(diff(false)); err != nil {
		t.Fatal(err)
	}
	if got := len(s.AttributeNames()); got != 0 {
		t.Fatalf("%d attributes left, want none", got)
	}
	if limit := 4 * n; scanned > limit {
		t.Errorf("setting and removing %d attributes by two diffs scanned %d names, want at most %d", n, scanned, limit)
	}
}
