package tomcatinterop_test

import "testing"

// TestBalancerWaitsWhileThePoolIsEmpty: with every node drained (no hold), a request
// waits for a node instead of dividing by the pool's size (a panic in a client worker
// that ended the whole test binary), and goes to the node added next.
func TestBalancerWaitsWhileThePoolIsEmpty(t *testing.T) {
	lb := newBalancer(true)
	lb.add("a", "http://a.invalid")
	lb.drain(t, "a")
	for _, id := range []string{"", "S1.a"} { // a new session, one of the drained node
		be, wait := lb.pick(0, id)
		if be != nil || wait == nil {
			t.Fatalf("session %q: picked %v with an empty pool, want a wait", id, be)
		}
		lb.add("b", "http://b.invalid")
		select {
		case <-wait:
		default:
			t.Fatalf("session %q: adding a node did not end the wait", id)
		}
		be, _ = lb.pick(0, id)
		if be == nil || be.route != "b" {
			t.Fatalf("session %q: picked %v after b was added, want b", id, be)
		}
		be.inflight.Add(-1) // the request ended
		lb.drain(t, "b")
	}
}
