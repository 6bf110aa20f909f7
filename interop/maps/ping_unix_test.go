//go:build unix

package mapsinterop_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
)

// TestPingsDropSilentMembers: a Java map's ping drops a Go member that stops answering (its
// gate drops Java's messages) after accessTimeout and keeps the one that answers; a Go
// map's ping drops a Java member that stops answering (SIGSTOP) after AccessTimeout and
// keeps the Go member that answers. The channels still list the silent members (their
// expiration is longer): the maps' pings dropped them.
func TestPingsDropSilentMembers(t *testing.T) {
	ctx := context.Background()
	c := cluster(t, setup{accessTimeout: time.Second, expiration: time.Minute})
	t.Cleanup(c.j.Kill) // before the maps' and channels' Stop, which would wait for the frozen JVM

	go0 := c.gos[0].LocalMember().Key()
	c.gates[1].only.Store(&go0)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "silent Go member dropped by Java", func() bool {
		info, err := c.j.MapKeys(ctx)
		if err == nil && info.Members == 1 {
			return true
		}
		return c.j.MapHeartbeat(ctx) != nil
	})
	if err := c.j.MapHeartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := c.j.MapKeys(ctx); err != nil || info.Members != 1 {
		t.Fatalf("Java's map members after another ping: %+v %v, want the answering Go node", info, err)
	}
	if ms, err := c.j.Members(ctx); err != nil || len(ms) != 2 {
		t.Fatalf("Java's channel members %v %v: the channel dropped the silent one, not the map's ping", ms, err)
	}
	c.gates[1].only.Store(nil)

	if err := c.j.Freeze(); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "frozen Java dropped by Go", func() bool {
		c.gos[0].Heartbeat()
		return len(c.maps[0].Members()) == 1
	})
	if ms := c.maps[0].Members(); ms[0].Key() != c.gos[1].LocalMember().Key() {
		t.Fatalf("map members %v, want the Go node", ms)
	}
	if _, ok := c.gos[0].Member(c.java.Key()); !ok {
		t.Fatal("the channel dropped Java: not the map's ping")
	}
}
