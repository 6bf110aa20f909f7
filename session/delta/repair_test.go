package delta_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestTransferAsksAgainForASessionItLeftOut reproduces a Tomcat donor's snapshot taken
// while another member's rename of a session had it out of the donor's map (Tomcat
// removes a session and adds it back under the new id): the snapshot lacks the session
// under either id, and the joiner queued the rename and the next delta. The joiner asks
// the renaming member for every session again and keeps only the one it lacks.
func TestTransferAsksAgainForASessionItLeftOut(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			nw := channeltest.NewNetwork()
			donor, askedDonor := newAsker(t, nw)
			j := startNode(t, nw, delta.Config{JvmRoute: "j", KeepStaleTransferMessages: keep})
			jm := waitFor(t, askedDonor)
			renamer, askedRenamer := newAsker(t, nw)
			testutil.EventuallyTrue(t, 10*time.Second, "the joiner lists the renaming member", func() bool {
				return len(j.ch.Members()) == 2
			})

			T := time.Now().UnixMilli()
			msg, set, state := repairMsg, repairSet, func(id string, version uint64, v string) delta.SessionState {
				return repairState(T, id, version, v)
			}
			// The renamer takes over S.d as S.r and changes it, while the donor snapshots.
			rename := msg(delta.EventChangeSessionID, "S.d", T)
			rename.NewID = "S.r"
			renamer.send(t, jm, rename)
			renamer.send(t, jm, set(msg(delta.EventDelta, "S.r", T+1), 2, "v2"))
			chunk := msg(delta.EventAllSessionData, "SESSION-STATE", T+2)
			chunk.Sessions = []delta.SessionState{state("O.d", 1, "donor's")}
			donor.send(t, jm, chunk)
			donor.send(t, jm, msg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+2))

			// The joiner asks the renamer, whose snapshot has the session under its new id
			// (and its own, older, copy of another session, which the joiner keeps its own of).
			waitFor(t, askedRenamer)
			if j.m.Ready() {
				t.Fatal("ready before the sessions left out were received")
			}
			chunk = msg(delta.EventAllSessionData, "SESSION-STATE", T+3)
			chunk.Sessions = []delta.SessionState{state("S.r", 2, "v2"), state("O.d", 0, "renamer's")}
			renamer.send(t, jm, chunk)
			renamer.send(t, jm, msg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+3))
			if err := j.m.WaitReady(context.Background()); err != nil {
				t.Fatal(err)
			}
			get := func(id string) any { return valueK(j.m, id) }
			if get("S.r") != "v2" || get("S.d") != nil || get("O.d") != "donor's" {
				t.Errorf("S.r %v, S.d %v, O.d %v; want v2, none, donor's", get("S.r"), get("S.d"), get("O.d"))
			}
			if st := j.m.Stats(); st.TransferRepairs != 1 || st.TransferDonor != donor.tn.Member().Addr() {
				t.Errorf("repairs %d, donor %q", st.TransferRepairs, st.TransferDonor)
			}

			// The session's later changes apply.
			renamer.send(t, jm, set(msg(delta.EventDelta, "S.r", time.Now().UnixMilli()), 3, "v3"))
			testutil.EventuallyTrue(t, 10*time.Second, "the next delta applied", func() bool { return get("S.r") == "v3" })
		})
	}
}

// waitFor receives from c, failing the test after 10 s.
func waitFor[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("not within 10s")
		panic("unreachable")
	}
}

// TestRunningManagerAsksForASessionItLacks: a member renamed a session before it listed
// the joiner, so the joiner, ready, holds the session under its old id only and receives
// deltas about the new one. It asks that member for every session again, keeps the one it
// lacks, and applies the deltas held meanwhile after it, in order.
func TestRunningManagerAsksForASessionItLacks(t *testing.T) {
	nw := channeltest.NewNetwork()
	renamer, askedRenamer := newAsker(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	jm := waitFor(t, askedRenamer)
	T := time.Now().UnixMilli()
	msg, set, state := repairMsg, repairSet, func(id string, version uint64, v string) delta.SessionState {
		return repairState(T, id, version, v)
	}
	chunk := msg(delta.EventAllSessionData, "SESSION-STATE", T)
	chunk.Sessions = []delta.SessionState{state("S.d", 1, "v1")}
	renamer.send(t, jm, chunk)
	renamer.send(t, jm, msg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	get := func(id string) any { return valueK(j.m, id) }

	// The renamer's deltas about S.r (renamed from S.d before it listed the joiner).
	renamer.send(t, jm, set(msg(delta.EventDelta, "S.r", T+10), 3, "v3"))
	waitFor(t, askedRenamer)
	renamer.send(t, jm, set(msg(delta.EventDelta, "S.r", T+20), 4, "v4")) // after its snapshot
	chunk = msg(delta.EventAllSessionData, "SESSION-STATE", T+15)
	chunk.Sessions = []delta.SessionState{state("S.r", 3, "v3"), state("O.r", 1, "other")}
	renamer.send(t, jm, chunk)
	renamer.send(t, jm, msg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+15))
	testutil.EventuallyTrue(t, 10*time.Second, "the session loaded and its deltas applied", func() bool {
		return get("S.r") == "v4"
	})
	renamer.send(t, jm, set(msg(delta.EventDelta, "S.r", T+30), 5, "v5"))
	testutil.EventuallyTrue(t, 10*time.Second, "the next delta applied", func() bool { return get("S.r") == "v5" })
	if get("O.r") != nil {
		t.Error("loaded a session no message named")
	}
	if j.m.Find("S.d") != nil {
		t.Error("the copy under the old id S.d is left beside S.r")
	}
	if st := j.m.Stats(); st.TransferRepairs != 1 {
		t.Errorf("repairs %d, want 1", st.TransferRepairs)
	}
	// A session the renamer does not have either is asked for once, not again.
	renamer.send(t, jm, set(msg(delta.EventDelta, "X.r", T+40), 2, "x"))
	waitFor(t, askedRenamer)
	renamer.send(t, jm, msg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+40))
	testutil.EventuallyTrue(t, 10*time.Second, "the delta about the unknown session counted", func() bool {
		return j.m.Stats().UnknownSession > 0
	})
	renamer.send(t, jm, set(msg(delta.EventDelta, "X.r", T+50), 3, "x"))
	testutil.EventuallyTrue(t, 10*time.Second, "the second delta counted", func() bool {
		return j.m.Stats().UnknownSession > 1
	})
	if st := j.m.Stats(); st.TransferRepairs != 2 || get("X.r") != nil {
		t.Errorf("repairs %d (want 2), X.r %v", st.TransferRepairs, get("X.r"))
	}
}

// A running manager's repair holds at most maxHeld messages: past it, a message about a
// session it lacks is handled at once (ignored, counted), not kept.
func TestRunningRepairHoldsBoundedMessages(t *testing.T) {
	defer delta.SetMaxHeld(3)()
	nw := channeltest.NewNetwork()
	peer, asked := newAsker(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	jm := waitFor(t, asked)
	T := time.Now().UnixMilli()
	done := repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T)
	peer.send(t, jm, done)
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	set := func(version uint64, v string) *delta.Message {
		return repairSet(repairMsg(delta.EventDelta, "S.p", T+int64(version)), version, v)
	}
	peer.send(t, jm, set(2, "v2")) // starts the repair: asks the peer again
	waitFor(t, asked)
	for v := uint64(3); v <= 6; v++ { // v3 and v4 are held with v2; v5 and v6 are past the bound
		peer.send(t, jm, set(v, fmt.Sprintf("v%d", v)))
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the two messages past the bound ignored", func() bool {
		return j.m.Stats().UnknownSession == 2
	})
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T)
	chunk.Sessions = []delta.SessionState{repairState(T, "S.p", 1, "v1")}
	peer.send(t, jm, chunk)
	peer.send(t, jm, done)
	testutil.EventuallyTrue(t, 10*time.Second, "the held messages applied", func() bool {
		return valueK(j.m, "S.p") == "v4"
	})
	if n := j.m.Stats().UnknownSession; n != 2 {
		t.Errorf("unknown-session messages %d, want 2", n)
	}
}

// repairMsg is a session message of the repair tests.
func repairMsg(ev delta.Event, id string, ts int64) *delta.Message {
	return &delta.Message{Event: ev, Context: appName, SessionID: id, Timestamp: ts}
}

// repairSet makes m a delta of the given version setting the attribute "k" to v.
func repairSet(m *delta.Message, version uint64, v string) *delta.Message {
	m.Version = version
	m.Actions = []delta.Action{{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "k", Value: gobBytes(v)}}
	return m
}

// repairState is a transferred session of the given version, created at T, with "k" = v.
func repairState(T int64, id string, version uint64, v string) delta.SessionState {
	return delta.SessionState{ID: id, CreationTime: T, LastAccessedTime: T, MaxInactive: 1800, Version: version,
		Attributes: []delta.NamedValue{{Name: "k", Value: gobBytes(v)}}}
}

// gobBytes is v as GobCodec encodes it.
// valueK is the attribute "k" of m's session id, nil without one.
func valueK(m *delta.Manager, id string) any {
	if s := m.Find(id); s != nil {
		v, _ := s.Get("k")
		return v
	}
	return nil
}

func gobBytes(v any) []byte {
	b, _ := delta.GobCodec{}.Marshal(v)
	return b
}

// newCounter is a raw member that counts the requests for every session it receives
// (not a joiner's catch-up's, AskRecent).
func newCounter(t testing.TB, nw *channeltest.Network) (*raw, *atomic.Int32) {
	var n atomic.Int32
	return newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		if m.Event == delta.EventGetAllSessions && m.Version&delta.AskRecent == 0 { // not a joiner's catch-up
			n.Add(1)
		}
	}), &n
}

// TestRunningRepairCoalescesRounds: many messages about sessions a running manager lacks
// lead to one request per round, never two at once: the messages that arrive while a
// round is under way wait for its answer, sessions named after its answer began to arrive
// are loaded from a later chunk of it or asked for in one more round, and a session
// another member named is asked of that member, not given up with the first one's answer.
func TestRunningRepairCoalescesRounds(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, askedA := newCounter(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	jm := j.ch.LocalMember()
	asked := func(c *atomic.Int32, n int32) {
		t.Helper()
		testutil.EventuallyTrue(t, 10*time.Second, fmt.Sprintf("request %d", n), func() bool { return c.Load() == n })
	}
	asked(askedA, 1) // the state transfer's
	b, askedB := newCounter(t, nw)
	testutil.EventuallyTrue(t, 10*time.Second, "the joiner lists both members", func() bool {
		return len(j.ch.Members()) == 2
	})
	T := time.Now().UnixMilli()
	a.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}

	id := func(i int) string { return fmt.Sprintf("S%02d.a", i) }
	change := func(p *raw, id string) { p.send(t, jm, repairSet(repairMsg(delta.EventDelta, id, T+10), 2, "v2")) }
	chunk := func(p *raw, ids ...string) {
		c := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T)
		for _, id := range ids {
			c.Sessions = append(c.Sessions, repairState(T, id, 1, "v1"))
		}
		p.send(t, jm, c)
	}
	complete := func(p *raw) { p.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T)) }

	// Round 1 asks a; what a and b name meanwhile waits for its answer.
	change(a, id(1))
	asked(askedA, 2)
	for i := 2; i <= 10; i++ {
		change(a, id(i))
	}
	change(b, "T1.b")
	chunk(a, id(1), id(2), id(3), id(4), id(5))
	change(a, id(11)) // after the first chunk: in the second
	change(a, id(12))
	chunk(a, id(6), id(7), id(8), id(9), id(10), id(11), id(12))
	change(a, id(13)) // after the last chunk: asked again
	change(a, id(14))
	complete(a)
	// Round 2 asks b, whose message came first of those left; round 3 asks a again.
	asked(askedB, 1)
	chunk(b, "T1.b")
	complete(b)
	asked(askedA, 3)
	chunk(a, id(13), id(14))
	complete(a)

	want := []string{"T1.b"}
	for i := 1; i <= 14; i++ {
		want = append(want, id(i))
	}
	testutil.EventuallyTrue(t, 10*time.Second, "every session loaded with its change, the repair over", func() bool {
		for _, id := range want {
			s := j.m.Find(id)
			if s == nil {
				return false
			}
			if v, _ := s.Get("k"); v != "v2" {
				return false
			}
		}
		return delta.RepairIdle(j.m)
	})
	if na, nb, st := askedA.Load(), askedB.Load(), j.m.Stats(); na != 3 || nb != 1 || st.TransferRepairs != 3 ||
		st.UnknownSession != 0 {
		t.Errorf("a asked %d times (want 3: the transfer, two rounds), b %d (want 1), repairs %d (want 3), "+
			"unknown-session messages %d (want 0)", na, nb, st.TransferRepairs, st.UnknownSession)
	}
}

// A member replicating asynchronously may send an id change (a login's, with a new random
// part: a route rename is followed at once, see TestRenameThatReachedSomeMembers) and the
// next delta on different connections, so the delta about the new id can come first: the
// running manager holds it, and the rename that gives it the session applies the delta;
// nobody is asked for every session.
func TestRunningRepairWaitsForTheRename(t *testing.T) {
	defer delta.SetRepairSettle(time.Minute)() // the rename comes well within it
	peer, asked, j, T := readyWith(t, "S.d")
	jm := j.ch.LocalMember()

	peer.send(t, jm, repairSet(repairMsg(delta.EventDelta, "N.p", T+10), 2, "v2"))
	if delta.RepairIdle(j.m) {
		t.Fatal("the delta about a session this node lacks was not held")
	}
	rename := repairMsg(delta.EventChangeSessionID, "S.d", T+5)
	rename.NewID = "N.p"
	peer.send(t, jm, rename)
	testutil.EventuallyTrue(t, 10*time.Second, "the delta applied after the rename, the repair over", func() bool {
		return valueK(j.m, "N.p") == "v2" && delta.RepairIdle(j.m)
	})
	if n, st := asked.Load(), j.m.Stats(); n != 1 || st.TransferRepairs != 0 || st.UnknownSession != 0 {
		t.Errorf("requests %d (want 1, the transfer's), repairs %d, unknown-session messages %d (want 0)",
			n, st.TransferRepairs, st.UnknownSession)
	}
}

// TestRenameThatReachedSomeMembers: a member's rename of a session to its route reached
// this node but not another member (the renaming member died while sending it to each in
// turn), which goes on replicating the session under its old id. This node applies those
// messages to the session under its new id (not dropped as about an unknown session, nor
// asked for again), and the other member's own rename later brings the ids together.
func TestRenameThatReachedSomeMembers(t *testing.T) {
	peer, asked, j, T := readyWith(t, "S.a")
	jm := j.ch.LocalMember()

	rename := repairMsg(delta.EventChangeSessionID, "S.a", T+1) // the member of route b's binder
	rename.NewID = "S.b"
	peer.send(t, jm, rename)
	if j.m.Find("S.b") == nil || j.m.Find("S.a") != nil {
		t.Fatal("the rename S.a -> S.b was not applied")
	}
	peer.send(t, jm, repairSet(repairMsg(delta.EventDelta, "S.a", T+2), 2, "v2")) // the member of route a
	if got := valueK(j.m, "S.b"); got != "v2" {
		t.Errorf("after a delta on the old id S.a, S.b has k = %v, want v2", got)
	}
	rename = repairMsg(delta.EventChangeSessionID, "S.a", T+3) // route a's binder, later
	rename.NewID = "S.c"
	peer.send(t, jm, rename)
	if got := valueK(j.m, "S.c"); got != "v2" || j.m.Find("S.b") != nil {
		t.Errorf("after the rename S.a -> S.c: S.c has k = %v (want v2), S.b found: %v", got, j.m.Find("S.b") != nil)
	}
	peer.send(t, jm, repairMsg(delta.EventExpired, "S.b", T+4))
	if j.m.Find("S.c") != nil {
		t.Error("the expiry under the id S.b left the session S.c")
	}
	if n, st := asked.Load(), j.m.Stats(); n != 1 || st.TransferRepairs != 0 || st.UnknownSession != 0 {
		t.Errorf("requests %d (want 1, the transfer's), repairs %d, unknown-session messages %d (want 0)",
			n, st.TransferRepairs, st.UnknownSession)
	}
}

// A rename and the next delta of a session often arrive together, on two connections.
// The delta's session is looked up under its id, then under the id with other routes,
// each under its own lock: a rename to that id completing between the two reads must
// not hide the session (the delta was dropped as about an unknown session, once in
// interop/tomcat's ChangeID test).
func TestLookupAcrossARename(t *testing.T) {
	peer, _, j, T := readyWith(t, "S.d")
	jm := j.ch.LocalMember()
	rename := repairMsg(delta.EventChangeSessionID, "S.d", T+1)
	rename.NewID = "S.p"
	reads := 0
	get := func(id string) *delta.Session {
		s := j.m.Find(id)
		if reads++; reads == 1 {
			if s != nil || id != "S.p" {
				t.Fatalf("first read: %q found %v, want S.p not found", id, s != nil)
			}
			peer.send(t, jm, rename) // between the read of S.p and those of S.j, S.d
		}
		return s
	}
	s, exact := delta.Lookup(j.m, "S.p", get)
	if s == nil || !exact || s.ID() != "S.p" {
		t.Fatalf("lookup of S.p across the rename S.d -> S.p: found %v, exact %v (reads %d)", s != nil, exact, reads)
	}
	peer.send(t, jm, repairSet(repairMsg(delta.EventDelta, "S.p", T+2), 2, "v2"))
	if got, st := valueK(j.m, "S.p"), j.m.Stats(); got != "v2" || st.UnknownSession != 0 {
		t.Errorf("after the delta: k = %v (want v2), unknown-session messages %d", got, st.UnknownSession)
	}
}

// readyWith starts a manager of route j that gets one session, id (version 1, k = "v1",
// created at T), in its state transfer from peer, a raw member that counts the requests
// for every session (asked), and waits until it is ready.
func readyWith(t *testing.T, id string) (peer *raw, asked *atomic.Int32, j *node, T int64) {
	nw := channeltest.NewNetwork()
	peer, asked = newCounter(t, nw)
	j = startNode(t, nw, delta.Config{JvmRoute: "j"})
	testutil.EventuallyTrue(t, 10*time.Second, "the state transfer's request", func() bool { return asked.Load() == 1 })
	T = time.Now().UnixMilli()
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T)
	chunk.Sessions = []delta.SessionState{repairState(T, id, 1, "v1")}
	jm := j.ch.LocalMember()
	peer.send(t, jm, chunk)
	peer.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	return peer, asked, j, T
}
