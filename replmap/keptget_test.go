package replmap_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// A Get on the proxy that the departure pass's node a holds, the pass having stepped
// aside for w's Put (thirdNodePutDuringPass, w naming the pass's backup y its backup),
// while the pass still sends: its request to w to send the value again (kept.go) was
// built before the Get and would follow the Get's MSG_PROXY to w. w, which keeps the
// value a MSG_PROXY from a dropped, would then be the primary again beside a. The Get
// waits until a's republish of the key ended (a's send interceptor holds the pass's
// MSG_PROXY to z, which comes before its request): it counts among the republish's
// waiters (without the wait it took the entry over from y at once). Once released,
// one node is k's primary, with v2, and the Get returned v2 or, when y did not hold it
// yet, ErrUnavailable.
func TestGetOnTheProxyAPassSteppedAsideWaitsForItsRequest(t *testing.T) {
	hold := newSeqHold(1, 2) // 0 the pass's MSG_BACKUP, 1 its MSG_PROXY, 2 its correcting MSG_PROXY
	const k = "k"
	p := holdDeparturePass(t, hold, true, k, "v1")
	nodes, a, x, killed := p.nodes, p.a, p.x, p.killed
	y := backupOf(nodes, a, k, x)
	if y == nil {
		t.Fatal("no member holds the pass's MSG_BACKUP of k")
	}
	var w *node
	for _, n := range nodes {
		if n != a && n != x && n != y {
			w = n
			break
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "w dropping x", func() bool { return len(w.m.Members()) == 3 })
	replmap.SetNextBackup(w.m, y.ch.LocalMember())
	if _, err := w.m.Put(ctx(t), k, "v2"); err != nil {
		t.Fatalf("w's Put of k: %v", err)
	}
	hold.releaseAt(1)
	hold.awaitHeld(t, "a's pass's MSG_PROXY naming w", 2)
	if _, primary, held := a.m.Peek(k); primary || held {
		t.Fatalf("a's entry of k: primary %v, held %v; want a proxy (w's Put)", primary, held)
	}
	type got struct {
		v   any
		ok  bool
		err error
	}
	gets := make(chan got, 1)
	go func() {
		v, ok, err := a.m.Get(ctx(t), k)
		gets <- got{v, ok, err}
	}()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "a's Get waiting for the pass", func() bool {
		select {
		case g := <-gets:
			gets <- g
			return true // reported below
		default:
			return replmap.RepublishWaiters(a.m) == 1
		}
	})
	select {
	case g := <-gets:
		t.Fatalf("a's Get returned %#v, %v, %v while a's pass still sent", g.v, g.ok, g.err)
	default:
	}
	hold.releaseAt(2)
	<-killed
	g := <-gets
	if g.err != nil && !errors.Is(g.err, replmap.ErrUnavailable) || g.err == nil && (!g.ok || g.v != "v2") {
		t.Fatalf("a's Get of k = %#v, %v, %v; want v2 or ErrUnavailable", g.v, g.ok, g.err)
	}
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		var primaries []string
		for _, n := range nodes {
			if v, primary, held := n.m.Peek(k); n != x && primary && held && v == "v2" {
				primaries = append(primaries, n.ch.LocalMember().String())
			} else if n != x && primary {
				return errors.New(n.ch.LocalMember().String() + " primary of k without v2")
			}
		}
		if len(primaries) != 1 {
			return fmt.Errorf("%d primaries of k with v2: %v", len(primaries), primaries)
		}
		return nil
	})
}

// A request of the member that demoted the Put's primary, duplicated or delayed past a
// later takeover, makes no second primary: after the restore, a MSG_PROXY from that
// member (its Get taking the entry over) or from another one makes the node a proxy
// keeping nothing, and the repeated request leaves it one.
func TestRepeatedRequestAfterTheRestoreRestoresNothing(t *testing.T) {
	const k = "k"
	for _, by := range []string{"the member that demoted it", "another member"} {
		t.Run(by, func(t *testing.T) {
			w, a, q, v, backup := keptAfterPut(t, nil, nil)
			if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, backup); err != nil {
				t.Fatal(err)
			}
			if got, primary, held := w.m.Peek(k); !held || !primary || got != v {
				t.Fatal("w is not k's primary with the Put's value after a's request")
			}
			taker, other := a, q
			if by == "another member" {
				taker, other = q, a
			}
			if err := replmap.ReceiveProxy(w.m, taker.ch.LocalMember(), k, other.ch.LocalMember()); err != nil {
				t.Fatal(err)
			}
			if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, backup); err != nil {
				t.Fatal(err)
			}
			if _, primary, held := w.m.Peek(k); primary || held {
				t.Fatalf("w after the takeover and a's repeated request: primary %v, holding %v", primary, held)
			}
			if s := w.m.Stats(); s.StoredBytes > 4<<10 || !replmap.StoredConsistent(w.m) || replmap.KeptMarks(w.m) != 0 {
				t.Fatalf("w's stats %+v, %d kept: want no 64 KiB value kept", s, replmap.KeptMarks(w.m))
			}
		})
	}
}

// A Remove of the key on another member after the Put's primary was demoted drops the
// kept value with the entry: the demoting member's request then restores nothing.
func TestRemoveOnAnotherMemberDropsTheKeptValue(t *testing.T) {
	const k = "k"
	w, a, q, _, backup := keptAfterPut(t, nil, nil)
	if _, err := q.m.Remove(ctx(t), k); err != nil {
		t.Fatal(err)
	}
	if err := replmap.AskResend(w.m, a.ch.LocalMember(), k, backup); err != nil {
		t.Fatal(err)
	}
	if _, _, held := w.m.Peek(k); held || w.m.Len() != 0 {
		t.Fatalf("w after q's Remove and a's request: holding %v, %d entries", held, w.m.Len())
	}
	if s := w.m.Stats(); s.StoredBytes != 0 || replmap.KeptMarks(w.m) != 0 {
		t.Fatalf("w's stats %+v, %d kept after q's Remove", s, replmap.KeptMarks(w.m))
	}
}
