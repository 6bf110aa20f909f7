package mapsinterop_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

// A Go primary (Go node 0) that another member's MSG_REMOVE dropped forwards the removal
// to its backup nodes (replmap's forward.go), but not when it holds the key again as
// another member's proxy and no send of the key of its own was under way when the
// removal came: here Go node 1's Put of the key, made while Go 0's forward waited behind
// another (held), naming Java its backup. Java drops the key on any MSG_REMOVE: such a
// forward, coming after Go 1's Put returned, would drop Go 1's backup on Java, Go 1 then
// holding the only copy of its acknowledged value. Failed before (ada317d sent it
// whenever Go 0 held no primary of the key, and Java dropped the backups).
func TestForwardedRemoveKeepsAJavaBackupOfANewerGoPut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := cluster(t, setup{})
	j, maps := c.j, c.maps
	// Keys Go node 0 holds as the primary, Java backing them up: the first is removed
	// (its forward to Java held), the others put again on Go node 1 meanwhile.
	keys := javaBackedKeys(ctx, t, c, 6, 48, "old")
	h := &holdSend{to: c.java.Key(), held: make(chan struct{}), release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(h.release)
		}
	}
	defer release()
	c.gates[0].hold.Store(h)
	if _, err := maps[1].Remove(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.held: // Go 0's forwarded MSG_REMOVE of keys[0] to Java
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Go node 0 forwarded no removal to Java")
	}
	// Go 1's Puts of the other keys: those naming Java their backup are the case.
	var onJava []string
	for _, k := range keys[1:] {
		if _, err := maps[1].Put(ctx, k, "new"); err != nil {
			t.Fatal(err)
		}
		if _, _, held := maps[0].Peek(k); !held {
			onJava = append(onJava, k)
		}
	}
	if len(onJava) == 0 {
		// Go node 1 picks its backups round-robin among Go node 0 and Java, so some of
		// its five Puts name Java: none is a broken setup, not a case to skip.
		t.Fatal("no Put of Go node 1 named Java its backup")
	}
	info, err := j.MapKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range onJava {
		if !slices.Contains(info.Keys, k) {
			t.Fatalf("Java holds no backup of Go 1's put of %s before the forward", k)
		}
	}
	release()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "Java drops keys[0], the forward held", func() bool {
		info, err := j.MapKeys(ctx)
		return err == nil && !slices.Contains(info.Keys, keys[0])
	})
	// Go 0's forwards of the others, queued behind keys[0]'s, are taken by the same
	// goroutine right after its send returned; a put of Go 0's (a round trip) gives
	// them time to reach Java. No signal the test sees marks them done (no Stats
	// counter of forwards sent): a forward sent later still would pass unseen, but
	// before the fix they had reached Java by then in each run.
	if _, err := maps[0].Put(ctx, keys[0], "after"); err != nil {
		t.Fatal(err)
	}
	info, err = j.MapKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range onJava {
		if !slices.Contains(info.Keys, k) {
			t.Errorf("Java dropped Go 1's backup of %s: Go 0 forwarded the removal after Go 1's put", k)
		}
	}
	for _, k := range onJava {
		if v, primary, held := maps[1].Peek(k); !held || !primary || v != "new" {
			t.Errorf("Go node 1 holds %v of %s (primary %v), want the primary of its put", v, k, primary)
		}
	}
}
