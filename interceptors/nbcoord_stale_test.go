package interceptors_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/freeport"
	"github.com/gotribes/tribes/internal/nodetest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/transport/nio"
)

// TestNonBlockingCoordinatorStaleEntryOfItself: two nodes on the real TCP transport on
// loopback, one of which (p) still lists the other's entry from before a restart (same
// host and port, another unique id). The restarted node l learns the stale entry from p's
// election token; its alive check, a TCP connect to its own address, passes. They agree on
// a view of the two of them (p, which lists the stale entry, keeps it in the view it
// confirms) and stop sending. l took the stale entry for a member: the token was passed to
// its address, that is back to l, around and around without end (thousands of messages a
// second, and no view).
func TestNonBlockingCoordinatorStaleEntryOfItself(t *testing.T) {
	for _, lFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("restarted node first %t", lFirst), func(t *testing.T) {
			testStaleEntryOfItself(t, lFirst)
		})
	}
}

// testStaleEntryOfItself runs TestNonBlockingCoordinatorStaleEntryOfItself with the
// restarted node l before or after p in absolute order (by port).
func testStaleEntryOfItself(t *testing.T, lFirst bool) {
	ports, release, err := freeport.Pick(2, freeport.TCP, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	release()
	lport, pport := min(ports[0], ports[1]), max(ports[0], ports[1])
	if !lFirst {
		lport, pport = pport, lport
	}
	host := []byte{127, 0, 0, 1}
	member := func(port int, id byte) channel.Member {
		return channel.Member{Host: host, Port: int32(port), SecurePort: -1, UDPPort: -1, UniqueID: channel.UniqueID{id}}
	}
	lm, stale, pm := member(lport, 0xf0), member(lport, 0x01), member(pport, 0x80)
	start := func(self channel.Member, peers ...channel.Member) *interceptors.NonBlockingCoordinator {
		coord, err := interceptors.NewNonBlockingCoordinator(interceptors.NonBlockingCoordinatorConfig{
			WaitTimeout: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		nodetest.Start(t, node.Config{
			Transport:     &nio.Config{Address: "127.0.0.1", Port: int(self.Port), AutoBind: 1},
			UniqueID:      self.UniqueID,
			StaticMembers: peers,
			Above:         []channel.Interceptor{coord},
		})
		return coord
	}
	withStale := func(view []channel.Member, with bool) []channel.Member {
		if !with {
			return view
		}
		out := append(slices.Clone(view), stale)
		interceptors.SortAbsolute(out)
		return out
	}
	l := start(lm, pm)
	p := start(pm, stale, lm)
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		// l's view has no stale entry; p's has it if p confirmed the view (p lists it).
		view, _, ok := l.View()
		if !ok || len(view) != 2 || !slices.ContainsFunc(view, lm.Equal) || !slices.ContainsFunc(view, pm.Equal) {
			return fmt.Errorf("l: view %v (installed %t), stats %+v: want l and p", view, ok, l.Stats())
		}
		pview, _, ok := p.View()
		if want := withStale(view, !lFirst); !ok || !slices.EqualFunc(pview, want, channel.Member.Equal) {
			return fmt.Errorf("p: view %v (installed %t), stats %+v: want %v", pview, ok, p.Stats(), want)
		}
		return nil
	})
	first := pm
	if lFirst {
		first = lm
	}
	for name, c := range map[string]*interceptors.NonBlockingCoordinator{"l": l, "p": p} {
		if co, ok := c.Coordinator(); !ok || !co.Equal(first) {
			t.Errorf("%s's coordinator %v (%t), want %v", name, co, ok, first)
		}
	}
	for _, m := range l.Members() {
		if m.Equal(stale) {
			t.Errorf("l lists the stale entry of itself: %v", l.Members())
		}
	}
	// Agreed in a few messages; the token no longer circulates.
	if s := l.Stats().MessagesSent + p.Stats().MessagesSent; s > 20 {
		t.Errorf("%d coordination messages sent, want a few: l %+v, p %+v", s, l.Stats(), p.Stats())
	}
}
