package mapsinterop_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

// The first Go node's Put of a key the Java node backs up has sent its MSG_REMOVE and
// its MSG_BACKUP to Java, its MSG_PROXY to the other Go node held, when Java puts the key:
// Java's put, which held the key, sends MSG_REMOVE and then its MSG_BACKUP and MSG_PROXY,
// which reach the Go node while its Put sends. The Go Put, which took that MSG_REMOVE for
// a Remove, stored nothing and removed the key again everywhere, dropping Java's entry:
// both puts returned and no node held the key. Now every node gets one of the two values.
func TestPutBesideAJavaPutKeepsAValue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := cluster(t, setup{})
	j, maps := c.j, c.maps
	// The Go node's backups go round: a probe backed up by the other Go node makes Java
	// the next key's backup.
	for i := 0; ; i++ {
		if i == 4 {
			t.Fatal("no probe put made Java the next backup")
		}
		probe := "probe" + string(rune('0'+i))
		if _, err := maps[0].Put(ctx, probe, "p"); err != nil {
			t.Fatal(err)
		}
		if _, _, held := maps[1].Peek(probe); held {
			break
		}
	}
	if _, err := maps[0].Put(ctx, "k", "v0"); err != nil { // Java backs it up
		t.Fatal(err)
	}
	if _, _, held := maps[1].Peek("k"); held {
		t.Fatal("the other Go node backs k up, want Java")
	}
	// The next backup is the other Go node: a Put of another key takes that turn, and
	// Java backs up the Put under test too.
	if _, err := maps[0].Put(ctx, "skip", "s"); err != nil {
		t.Fatal(err)
	}
	h := &holdSend{to: c.gos[1].LocalMember().Key(), held: make(chan struct{}), release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(h.release)
		}
	}
	defer release()
	c.gates[0].hold.Store(h)
	put := make(chan error, 1)
	go func() {
		_, err := maps[0].Put(ctx, "k", "go")
		put <- err
	}()
	select {
	case <-h.held: // MSG_REMOVE and MSG_BACKUP (to Java) sent; the MSG_PROXY waits
	case err := <-put:
		t.Fatalf("the Go Put returned (%v) without sending a proxy", err)
	}
	if err := j.MapPut(ctx, "k", "java"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "Java's put reaches the Go node", func() bool {
		return slices.Contains(maps[0].Keys(), any("k"))
	})
	release()
	select {
	case err := <-put:
		if err != nil {
			t.Fatalf("the Go Put: %v", err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the Go Put has not returned")
	}
	for i, m := range maps {
		v, ok, err := m.Get(ctx, "k")
		if err != nil || !ok || v != "go" && v != "java" {
			t.Errorf("Go node %d: get k = %v %v %v, want go or java", i, v, ok, err)
		}
	}
	v, found, err := j.MapGet(ctx, "k")
	if err != nil || !found || v != "go" && v != "java" {
		t.Errorf("Java get k = %q %v %v, want go or java", v, found, err)
	}
}
