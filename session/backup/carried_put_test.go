package backup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/backup"
)

// TestRenamePutThatSentSettlesTheCarriedReport: a Put's full copy leaves big (100
// strings, past MaxArrayLen 50) out; big then shrinks to 10 strings and
// ChangeSessionID's Put, which sent, carries it: the backup holds it. The next
// Replicate's send fails. Before, that Replicate gave back the report of big ("left
// out of its full copy, not on the other nodes"), the carried report being settled per
// Replicate, not per send: it told the operator a value was missing that the backup
// held. The Put's own outcome now settles what its copy carried.
func TestRenamePutThatSentSettlesTheCarriedReport(t *testing.T) {
	fail := &failSend{}
	ms, _ := startManagerNodesWith(t, 2, backup.Config{DisableJvmRouteBinder: true, Limits: arrayLimits},
		map[int]channel.Interceptor{0: fail})
	ctx := context.Background()
	s := sessionPastArrayLimit(t, "CARRY1.n0")
	if _, err := ms[0].Map().Put(ctx, s.ID(), s); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("big", stringList("s", 10)); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].ChangeSessionID(ctx, s, "CARRY2.n0"); err != nil {
		t.Fatalf("ChangeSessionID: %v", err)
	}
	if got := backupHolds(t, ms[1], "CARRY2.n0", "big"); got != 10 {
		t.Fatalf("the backup's big after the rename: %d, want 10", got)
	}
	fail.fail.Store(1)
	err := ms[0].Replicate(ctx, "CARRY2.n0")
	if err == nil || !strings.Contains(err.Error(), "failSend") {
		t.Fatalf("Replicate whose send fails: %v, want the failure", err)
	}
	if strings.Contains(err.Error(), "left out") {
		t.Fatalf("Replicate whose send fails: %v; big was carried by the rename's Put, which sent, and is on the backup", err)
	}
}
