package mcast

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestReviewCrashRestartSameIDAliveTime: a node with a fixed unique id (tribesdemo --id,
// the ids static configurations list) crashes and is restarted at the same address
// within DropTime. Its heartbeats now carry a small alive time. The package doc says a
// known member's alive time is refreshed by each heartbeat, and Tomcat's
// Membership.memberAlive takes the new alive time and re-sorts; the Go table keeps the
// earliest start it ever estimated, so the restarted node keeps the alive time of its
// previous run and stays "oldest" in Members(), ahead of a node that really is older
// (what a starting session manager asks for its state).
func TestReviewCrashRestartSameIDAliveTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := &fakeNet{}
		a := startFake(t, nw, 1, nil)
		b := newFakeNode(t, nw, 2, nil, nil).run(t)
		time.Sleep(10 * time.Second)
		c := startFake(t, nw, 3, nil) // C started 10 s after B's first run
		time.Sleep(5 * time.Second)

		// B crashes: nothing it sends arrives any more, no shutdown packet.
		bc := b.conn()
		nw.mu.Lock()
		nw.block = func(src, _ *fakeConn) bool { return src == bc }
		nw.mu.Unlock()
		b.stop(t)
		nw.mu.Lock()
		nw.block = nil
		nw.mu.Unlock()

		// ... and is restarted at once, same address and id.
		time.Sleep(time.Second)
		b2 := newFakeNode(t, nw, 2, nil, nil).run(t)
		defer b2.stop(t)
		time.Sleep(time.Second)
		synctest.Wait()

		got, ok := a.s.Member(b2.m.Key())
		if !ok {
			t.Fatalf("A does not list the restarted B")
		}
		// B's new run is 1 s old; its previous run began 17 s ago.
		if got.AliveTime > 2000 {
			t.Errorf("A reports the restarted B alive for %d ms; its heartbeats say about 1000 ms", got.AliveTime)
		}
		if ps := ports(a.s.Members()); len(ps) != 2 || ps[0] != c.m.Port {
			t.Errorf("A's members oldest first: %v; C (up 7 s) is older than the restarted B (up 1 s)", ps)
		}
	})
}
