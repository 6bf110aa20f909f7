package tomcatinterop_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// TestRollingBack goes back from Go to Tomcat under load: a cluster of three Go nodes
// (acked replication, as TestRollingMigration leaves it) has go3, then go2, replaced by
// the Tomcat nodes t3 and t2 on their addresses and uniqueIds, the client running. A
// Tomcat joiner asks the first member of its view, the one alive longest: a Go node here,
// as in any rollback that starts from Go nodes only (each Tomcat node started back is
// younger than them). Every session survives, no acknowledged increment is lost, and
// each Tomcat node holds every session at the end.
func TestRollingBack(t *testing.T) {
	dir, app := setUp(t)
	const (
		nodes    = 3
		sessions = 200
		workers  = 8
	)
	slots, httpPorts, others := rolloutSlots(t, nodes) // t3 takes over go3's address and id
	// GOTRIBES_MIGRATION_NO_HOLD=1 as in TestRollingMigration: a drained node's sessions
	// go to the others at once, renamed there while its replacement joins.
	lb := newBalancer(os.Getenv("GOTRIBES_MIGRATION_NO_HOLD") == "1")
	r := newRollout(lb, nodes, sessions)
	// Every Go channel first (each waits for its members), then the managers in order:
	// go1 finds no member with a manager and starts empty at once (no MemberWait), the
	// others get its (empty) sessions.
	chs := make([]*channel.Channel, nodes)
	for i, m := range slots {
		t.Logf("go%d, then t%d: 127.0.0.1:%d", i+1, i+1, m.Port)
		chs[i] = startChannel(t, m.Port, m.UniqueID, others(i), nio.DefaultConfig())
	}
	for i := range slots {
		wait := 15 * time.Second
		if i == 0 {
			wait = -1
		}
		r.traces[i] = newRecvTrace(r.start)
		r.gos[i] = joinGo(t, r.traces[i], chs[i], fmt.Sprintf("go%d", i+1), nodes-1, wait, r.gos[:i]...)
		lb.add(r.gos[i].m.JvmRoute(), serveGo(t, r.gos[i]))
	}
	r.load(t, workers) // every session exists on Go

	for _, i := range []int{2, 1} {
		g, goes := r.gos[i], r.gos[:i] // the Go node replaced, those that stay
		route := g.m.JvmRoute()
		r.logf(t, "draining %s", route)
		lb.drain(t, route)
		r.logf(t, "stopping %s", route)
		g.stop(t)
		completed := make([]uint64, len(goes))
		for j, p := range goes {
			completed[j] = p.m.Stats().Sent[delta.EventTransferComplete]
		}
		r.logf(t, "starting t%d", i+1)
		tn := tomcat.Start(t, dir, app, tomcat.Config{Route: fmt.Sprintf("t%d", i+1), Port: slots[i].Port,
			UniqueID: slots[i].UniqueID, Members: others(i), HTTPPort: httpPorts[i], SendOption: 6})
		r.tomcats[i] = tn
		_, took, err := tn.StateTransfer()
		if err != nil {
			t.Fatalf("%v\n%s", err, tn.Log())
		}
		// The state came from a Go node: one completed a transfer, every session in it.
		donor := -1
		testutil.EventuallyTrue(t, within, "a Go node served "+tn.Route+"'s state transfer", func() bool {
			for j, p := range goes {
				if p.m.Stats().Sent[delta.EventTransferComplete] > completed[j] {
					donor = j
				}
			}
			return donor >= 0
		})
		if n, err := tomcatCounters(tn); err != nil || len(n) < sessions {
			t.Fatalf("%s holds %d sessions after its state transfer, want at least %d (%v)", tn.Route, len(n), sessions, err)
		}
		r.logf(t, "%s ready: state transfer from %s in %v", tn.Route, goes[donor].m.JvmRoute(), took)
		// Every node sends to the new one and the new one to every node: the Go nodes
		// count it as a member, a session created on a Tomcat node reaches the other.
		for _, p := range goes {
			testutil.EventuallyTrue(t, within, p.m.JvmRoute()+" counts "+tn.Route+" as a member", func() bool {
				return slices.ContainsFunc(p.ch.Members(), func(m channel.Member) bool { return m.UniqueID == slots[i].UniqueID })
			})
			waitReplicates(t, tn, func(id string) bool { return p.m.Find(id) != nil })
		}
		for _, other := range r.tomcats[i+1:] {
			waitReplicates(t, other, func(id string) bool { return tomcatHolds(tn, id) })
			waitReplicates(t, tn, func(id string) bool { return tomcatHolds(other, id) })
		}
		lb.add(tn.Route, tn.URL)
		lb.release(route)
		r.logf(t, "%s serves", tn.Route)
		r.c.nextPhase(t, r.diag) // every session served since, the moved ones by their new node
	}
	r.checkNoneLost(t)
	r.checkHolds(t, r.gos[0].m.JvmRoute(), r.goCounters(r.gos[0]))
	for _, tn := range r.tomcats[1:] {
		r.checkHolds(t, tn.Route, func() (map[string]int, error) { return tomcatCounters(tn) })
	}
}

// tomcatHolds reports whether Tomcat node n holds session id.
func tomcatHolds(n *tomcat.Node, id string) bool {
	held, err := tomcatCounters(n)
	_, ok := held[id]
	return err == nil && ok
}
