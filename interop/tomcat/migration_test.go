package tomcatinterop_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/gotribes/tribes/internal/tomcat"
)

// TestRollingMigration replaces a loaded three-node Tomcat cluster (acked replication)
// by Go nodes one at a time: every session survives and no acknowledged increment is
// lost.
func TestRollingMigration(t *testing.T) {
	tomcat.Skip(t)
	if testing.Short() {
		t.Skip("starts Tomcat: not in -short mode")
	}
	const (
		nodes    = 3
		sessions = 200
		workers  = 8
	)
	dir := t.TempDir()
	app := tomcat.SharedWebapp(t)
	// A Go node takes over its Tomcat's address and id.
	slots, httpPorts, others := rolloutSlots(t, nodes)

	// GOTRIBES_MIGRATION_NO_HOLD=1: a drained node's sessions go to the other nodes at
	// once instead of waiting for its replacement, as a balancer that does not hold them
	// sends them. Before the Go node asked again for the sessions it lacked, that mode
	// lost an acknowledged write in about 1 of 8 runs (a Tomcat donor's snapshot missing a
	// session renamed meanwhile; see docs/migration.md); CI runs the test with the hold.
	noHold := os.Getenv("GOTRIBES_MIGRATION_NO_HOLD") == "1"
	lb := newBalancer(noHold)
	for i, m := range slots {
		t.Logf("t%d, then go%d: 127.0.0.1:%d", i+1, i+1, m.Port)
	}
	tomcats := make([]*tomcat.Node, nodes)
	for i := range tomcats {
		tomcats[i] = tomcat.Start(t, dir, app, tomcat.Config{Route: fmt.Sprintf("t%d", i+1), Port: slots[i].Port,
			UniqueID: slots[i].UniqueID, Members: others(i), HTTPPort: httpPorts[i], SendOption: 6})
		lb.add(tomcats[i].Route, tomcats[i].URL)
	}
	for _, from := range tomcats {
		for _, to := range tomcats {
			if to != from {
				waitReplicates(t, from, func(id string) bool {
					got, err := to.Get("/get?name=counter", tomcat.SessionCookie(id))
					return err == nil && got == "java.lang.Integer|1"
				})
			}
		}
	}

	r := newRollout(lb, nodes, sessions)
	copy(r.tomcats, tomcats)
	r.load(t, workers) // every session exists on Tomcat

	for i, tn := range tomcats {
		r.logf(t, "draining %s", tn.Route)
		lb.drain(t, tn.Route)
		r.logf(t, "stopping %s", tn.Route)
		tn.Stop()
		r.logf(t, "starting go%d", i+1)
		g := r.startGo(t, i, fmt.Sprintf("go%d", i+1), slots[i], others(i), r.gos[:i]...)
		r.logf(t, "go%d ready (state transfer from %s)", i+1, g.m.Stats().TransferDonor)
		for _, from := range tomcats[i+1:] {
			waitReplicates(t, from, func(id string) bool { return g.m.Find(id) != nil })
		}
		lb.add(g.m.JvmRoute(), serveGo(t, g))
		lb.release(tn.Route)
		r.logf(t, "go%d serves", i+1)
		r.c.nextPhase(t, r.diag) // every session served since, the moved ones by their new node
	}
	r.checkNoneLost(t)
	for _, g := range r.gos {
		r.checkHolds(t, g.m.JvmRoute(), r.goCounters(g))
	}
}
