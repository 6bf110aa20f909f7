package mapsinterop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

// TestJavaMapRestarts: Java's map stops (MSG_STOP) and a new one starts on the same node
// and channel (a web application redeployed), for both kinds of map. The Go nodes take
// Java's entries over while it is away; the new Java map takes the state from them and
// gets every entry, Go's and its former map's, and the Go maps, which refuse a stopped
// member's messages until its new map's MSG_INIT or MSG_START, apply the new map's: its
// puts reach them (none refused), and a Go put reaches it.
func TestJavaMapRestarts(t *testing.T) {
	kinds(t, func(t *testing.T, replicated bool) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := cluster(t, setup{replicated: replicated})
		c.goPut(t, c.maps[0])
		c.javaPut(t)
		if err := c.j.MapStop(ctx); err != nil {
			t.Fatal(err)
		}
		for _, m := range c.maps {
			testutil.EventuallyTrue(t, testutil.WaitLimit, "Go map members", func() bool { return len(m.Members()) == 1 })
		}
		testutil.EventuallyTrue(t, testutil.WaitLimit, "every value on both Go nodes", func() bool {
			return c.maps[0].Len() == 2*leaveKeys && c.maps[1].Len() == 2*leaveKeys
		})

		if err := c.j.MapStart(ctx, mapName, 5*time.Second, replicated, int(sendOptions)); err != nil {
			t.Fatal(err)
		}
		c.waitJavaMembers(t, 2)
		for _, m := range c.maps {
			testutil.EventuallyTrue(t, testutil.WaitLimit, "Go map members after Java's restart", func() bool { return len(m.Members()) == 2 })
		}
		if info, err := c.j.MapKeys(ctx); err != nil || len(info.Keys) != 2*leaveKeys {
			t.Fatalf("the new Java map after its state transfer: %+v %v, want %d keys", info, err, 2*leaveKeys)
		}
		c.javaGets(t, "go")
		c.javaGets(t, "java")

		for i := range leaveKeys {
			if err := c.j.MapPut(ctx, fmt.Sprint("again", i), fmt.Sprint("from-again-", i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range c.maps {
			testutil.EventuallyTrue(t, testutil.WaitLimit, "Go knows the new Java map's keys", func() bool { return len(m.Keys()) == 3*leaveKeys })
			goGets(t, m, "again")
		}
		for gi, m := range c.maps {
			if s := m.Stats(); s.RefusedStopped != 0 {
				t.Fatalf("Go %d refused %d of the restarted Java node's messages", gi, s.RefusedStopped)
			}
		}
		if _, err := c.maps[1].Put(ctx, "late", "from-go-late"); err != nil {
			t.Fatal(err)
		}
		if v, found, err := c.j.MapGet(ctx, "late"); err != nil || !found || v != "from-go-late" {
			t.Fatalf("Java get late = %q %v %v", v, found, err)
		}
	})
}
