package backup_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// A diff setting many distinct attributes must apply in about the time it takes to
// decode (Tomcat's DeltaRequest.execute puts each into the session's ConcurrentHashMap):
// a diff of more than a few actions looks names up in maps (TestApplyDiffIndexedSameAsScan
// checks the result is the scans'). Before, Session.ApplyDiff looked each action's name up
// by a linear scan of the attributes (setNamed, also slices.DeleteFunc for removals): n
// actions cost n²/2 string comparisons, under the session's lock. A 1.4 MB diff of 60 000
// attributes (each value a 5-byte reference to one string) took seconds, 2.3 MB of 100 000
// about 16 s; the transport's 16 MiB frame holds 700 000 of them, and the MaxSessionBytes
// check runs only after the loop.
func TestApplyDiffManyAttributesLinear(t *testing.T) {
	const id, n = "A1.node1", 60000
	var w jserial.DataWriter
	if err := w.WriteUTF(id); err != nil {
		t.Fatal(err)
	}
	w.WriteBool(false)
	w.WriteInt32(n)
	for i := range n {
		w.WriteInt32(int32(delta.ActionAttribute))
		w.WriteInt32(int32(delta.OpSet))
		if err := w.WriteUTF(fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		w.WriteBool(true)
		w.WriteObject("x")
	}
	diff := javaStream(t, w.Contents())

	// The baseline: decoding the diff alone, on this machine under its current load.
	start := time.Now()
	if _, actions, err := (delta.JavaCodec{}).DecodeDeltaRequest(diff); err != nil || len(actions) != n {
		t.Fatalf("%d actions, %v", len(actions), err)
	}
	decode := time.Since(start)

	s := backup.NewSession(id, time.Hour, backup.Limits{})
	start = time.Now()
	err := s.ApplyDiff(diff)
	apply := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.AttributeNames()); got != n {
		t.Fatalf("%d attributes, want %d", got, n)
	}
	if limit := 4*decode + 500*time.Millisecond; apply > limit {
		t.Errorf("a %d-byte diff of %d attribute sets: ApplyDiff took %v, decoding it %v; want at most %v",
			len(diff), n, apply, decode, limit)
	}
}
