package replmap_test

import (
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/replmap"
)

// A Put that no map member takes as backup keeps its value on the local node and returns
// an error wrapping ErrNoBackup; a Replicate of that entry while still no member takes it
// fails with ErrNoBackup too (session/backup answers such a request 503), and once the
// member takes messages again Replicate publishes the entry (replmap's doc.go and
// Map.Replicate's documentation).
func TestNoBackupErrors(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	primary, other := nodes[0], nodes[1]
	other.tn.SetMaxMessageSize(1) // the only other member loses every message
	if _, err := primary.m.Put(ctx(t), "k", "v"); !errors.Is(err, replmap.ErrNoBackup) {
		t.Fatalf("Put with no member taking the backup: %v, want ErrNoBackup", err)
	}
	if v, isPrimary, ok := primary.m.Peek("k"); !ok || !isPrimary || v != "v" {
		t.Fatalf("after the Put: %#v, primary %v, held %v; want the value held as primary", v, isPrimary, ok)
	}
	if len(primary.m.Members()) != 1 {
		t.Fatal("the other node is no longer a map member")
	}
	if err := primary.m.Replicate(ctx(t), "k", false); !errors.Is(err, replmap.ErrNoBackup) {
		t.Fatalf("Replicate of an entry without backup, no member taking it: %v, want ErrNoBackup", err)
	}
	other.tn.SetMaxMessageSize(0)
	if err := primary.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatalf("Replicate once the member takes messages again: %v", err)
	}
	if v, _, ok := other.m.Peek("k"); !ok || v != "v" {
		t.Fatalf("the other node holds %#v (%v) after Replicate returned nil, want the value", v, ok)
	}
}
