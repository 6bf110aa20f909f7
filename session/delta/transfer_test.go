package delta_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/thp"
	"github.com/gotribes/tribes/session/delta"
)

// fill creates n sessions on a (replicated to the others) with attribute "i".
func fill(t testing.TB, a *node, n int) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for i := range n {
		s, err := a.m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.Set("i", i)
		if err := a.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID()
	}
	return ids
}

func checkAll(t testing.TB, n *node, ids []string) {
	t.Helper()
	if n.m.Len() != len(ids) {
		t.Fatalf("holds %d sessions, want %d", n.m.Len(), len(ids))
	}
	for i, id := range ids {
		s := n.m.Find(id)
		if s == nil {
			t.Fatalf("session %d (%s) missing", i, id)
		}
		if v, _ := delta.Attr[int](s, "i"); v != i {
			t.Fatalf("session %d has i=%v", i, v)
		}
		if s.IsPrimary() {
			t.Fatalf("transferred session %d is primary", i)
		}
	}
}

func TestJoinerReceives10000Sessions(t *testing.T) {
	nw, a, _, _ := three(t, delta.Config{})
	ids := fill(t, a, 10000)
	sentBefore := a.m.Stats().Sent[delta.EventAllSessionData]
	d := startReady(t, nw, delta.Config{JvmRoute: "d"})
	checkAll(t, d, ids)
	st := d.m.Stats()
	if st.SessionsTransferred != 10000 || st.TransferAttempts != 1 {
		t.Errorf("joiner stats: transferred %d attempts %d", st.SessionsTransferred, st.TransferAttempts)
	}
	if chunks := a.m.Stats().Sent[delta.EventAllSessionData] - sentBefore; chunks != 10 {
		t.Errorf("donor sent %d chunks, want 10 of 1000", chunks)
	}
	if a.m.Stats().SessionsServed != 10000 {
		t.Errorf("donor served %d", a.m.Stats().SessionsServed)
	}
	// The heap the transferred sessions filled was advised for transparent huge pages
	// during the transfer, and the advice withdrawn at its end ("nh", internal/thp).
	// Where that advice is off (not madvise mode, GODEBUG=disablethp=1), it is never given.
	if runtime.GOOS == "linux" {
		flags, err := thp.Flags(uintptr(unsafe.Pointer(d.m.Find(ids[9999]))))
		ok := err == nil && !slices.Contains(flags, "hg")
		if thp.Enabled() {
			ok = ok && slices.Contains(flags, "nh")
		}
		if !ok {
			t.Errorf("a transferred session's memory has VmFlags %v (err %v); huge page advice on here: %v", flags, err, thp.Enabled())
		}
	}
	// The joiner takes part in replication afterwards.
	s := a.m.Find(ids[7])
	_ = s.Set("after", true)
	_ = a.m.Replicate(context.Background(), s)
	if v, _ := d.m.Find(ids[7]).Get("after"); v != true {
		t.Error("joiner missed a delta after the transfer")
	}
}

// Sessions with no attribute, one, or several, and with notes, arrive each with its own
// (the donor puts a chunk's attributes and notes in one shared array, the joiner allocates
// a one-attribute session with room for it), and a transferred session takes further
// attributes afterwards.
func TestTransferKeepsEachSessionsAttributesAndNotes(t *testing.T) {
	ctx := context.Background()
	nw, a, _, _ := three(t, delta.Config{})
	const n = 2500 // chunks of 1000: the shared arrays are reused
	ids := make([]string, n)
	for i := range n {
		s, err := a.m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k := range i % 4 { // 0 to 3 attributes
			_ = s.Set(fmt.Sprintf("a%d", k), i*10+k)
		}
		if i%5 == 0 {
			_ = s.SetNote("n", fmt.Sprint("note", i))
		}
		if err := a.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID()
	}
	d := startReady(t, nw, delta.Config{JvmRoute: "d"})
	for i, id := range ids {
		s := d.m.Find(id)
		if s == nil {
			t.Fatalf("session %d missing", i)
		}
		for k := range 4 {
			v, ok := delta.Attr[int](s, fmt.Sprintf("a%d", k))
			if want := k < i%4; ok != want || ok && v != i*10+k {
				t.Fatalf("session %d: a%d = %v, %v", i, k, v, ok)
			}
		}
		note, ok := s.Note("n")
		if want := i%5 == 0; ok != want || ok && note != fmt.Sprint("note", i) {
			t.Fatalf("session %d: note %q, %v", i, note, ok)
		}
	}
	// One attribute received, one more set here: both kept.
	s := d.m.Find(ids[1])
	if err := s.Set("more", "x"); err != nil {
		t.Fatal(err)
	}
	if v, _ := delta.Attr[int](s, "a0"); v != 10 {
		t.Errorf("a0 = %v after a second attribute was set", v)
	}
	if v, _ := s.Get("more"); v != "x" {
		t.Errorf("more = %v", v)
	}
}

// The donor sends further chunks while earlier ones are unacknowledged, up to
// delta.TransferWindow at once: the first chunks are held by the joiner until that many
// are being delivered together (a donor waiting for each acknowledgement never gets there).
func TestDonorKeepsAWindowOfChunksInFlight(t *testing.T) {
	nw, a, _, _ := three(t, delta.Config{SendAllSessionsSize: 10})
	ids := fill(t, a, 200) // 20 chunks
	tn, ch := newChannel(t, nw)
	var mu sync.Mutex
	inFlight, most, started := 0, 0, 0
	full := make(chan struct{}) // closed once TransferWindow chunks were being delivered at once
	ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		if m, err := (delta.BinaryCodec{}).DecodeMessage(msg.Data); err != nil || m.Event != delta.EventAllSessionData {
			return nil
		}
		mu.Lock()
		inFlight++
		started++
		most = max(most, inFlight)
		first := started <= delta.TransferWindow
		if inFlight == delta.TransferWindow {
			select {
			case <-full:
			default:
				close(full)
			}
		}
		mu.Unlock()
		if first {
			select {
			case <-full:
			case <-time.After(10 * time.Second): // the donor waits for acknowledgements
			}
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return nil
	}))
	d := startManager(t, tn, ch, delta.Config{JvmRoute: "d"})
	if err := d.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkAll(t, d, ids)
	mu.Lock()
	defer mu.Unlock()
	if most != delta.TransferWindow {
		t.Errorf("at most %d chunks were in flight at once, want %d", most, delta.TransferWindow)
	}
}

// While the joiner receives its sessions, the process's GOGC is Config.TransferGCPercent;
// once it is ready, the earlier value is back. A negative value leaves GOGC alone.
func TestJoinerRaisesGCPercentDuringTransfer(t *testing.T) {
	nw, a, _, _ := three(t, delta.Config{SendAllSessionsSize: 10})
	ids := fill(t, a, 50)
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for _, tc := range []struct{ cfg, during int }{{0, delta.DefaultTransferGCPercent}, {250, 250}, {-1, 100}} {
		tn, ch := newChannel(t, nw)
		var mu sync.Mutex
		seen := map[int]int{} // GOGC values seen as chunks arrived, with their count
		ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
			if m, err := (delta.BinaryCodec{}).DecodeMessage(msg.Data); err == nil && m.Event == delta.EventAllSessionData {
				mu.Lock() // chunks arrive on several connections at once; reading GOGC sets it
				v := debug.SetGCPercent(-1)
				debug.SetGCPercent(v)
				seen[v]++
				mu.Unlock()
			}
			return nil
		}))
		d := startManager(t, tn, ch, delta.Config{JvmRoute: "d", TransferGCPercent: tc.cfg})
		if err := d.m.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkAll(t, d, ids)
		mu.Lock()
		if len(seen) != 1 || seen[tc.during] != 5 {
			t.Errorf("TransferGCPercent %d: GOGC during the 5 chunks: %v, want %d", tc.cfg, seen, tc.during)
		}
		mu.Unlock()
		if v := debug.SetGCPercent(100); v != 100 {
			t.Errorf("TransferGCPercent %d: GOGC %d after the transfer, want 100 back", tc.cfg, v)
		}
		if err := d.m.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// A joiner that dies with chunks in flight ends the donor's transfer: the sends in flight
// fail, the failure is counted, the slot is freed and the next joiner gets everything.
func TestJoinerKilledMidTransfer(t *testing.T) {
	nw, a, _, _ := three(t, delta.Config{SendAllSessionsSize: 10})
	ids := fill(t, a, 200) // 20 chunks
	before := a.m.Stats()
	tn, ch := newChannel(t, nw)
	var chunks atomic.Int32
	ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		if m, err := (delta.BinaryCodec{}).DecodeMessage(msg.Data); err == nil && m.Event == delta.EventAllSessionData &&
			chunks.Add(1) == 2 {
			nw.Kill(tn)
		}
		return nil
	}))
	startManager(t, tn, ch, delta.Config{JvmRoute: "k", StateTransferTimeout: time.Second})
	testutil.EventuallyTrue(t, 10*time.Second, "the donor's transfer to the killed joiner ended", func() bool {
		st := a.m.Stats()
		return st.SendFailures > before.SendFailures && st.TransfersActive == 0
	})
	if served := a.m.Stats().SessionsServed - before.SessionsServed; served >= 200 {
		t.Errorf("the donor counted %d sessions served to the killed joiner", served)
	}
	d := startReady(t, nw, delta.Config{JvmRoute: "d"})
	checkAll(t, d, ids)
}

func TestDonorKilledMidTransfer(t *testing.T) {
	nw, a, b, _ := three(t, delta.Config{})
	ids := fill(t, a, 3000) // three chunks
	tn, ch := newChannel(t, nw)
	var once sync.Once
	// A listener registered before the cluster's sees each chunk first: kill the donor
	// (A, the oldest member) on the first one.
	ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		if m, err := (delta.BinaryCodec{}).DecodeMessage(msg.Data); err == nil && m.Event == delta.EventAllSessionData {
			once.Do(func() { nw.Kill(a.tn) })
		}
		return nil
	}))
	cl := newCluster(t, ch, delta.ClusterConfig{})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkAll(t, &node{tn: tn, ch: ch, cl: cl, m: m}, ids)
	if st := m.Stats(); st.TransferAttempts != 2 {
		t.Errorf("attempts %d, want 2 (A killed, then B)", st.TransferAttempts)
	}
	if b.m.Stats().SessionsServed != 3000 {
		t.Errorf("B served %d", b.m.Stats().SessionsServed)
	}
	if served := a.m.Stats().SessionsServed; served >= 3000 {
		t.Errorf("the killed donor served %d", served)
	}
}

func TestDonorWithoutContextDeclines(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, fch := newChannel(t, nw) // oldest member: a cluster without this application
	fcl := newCluster(t, fch, delta.ClusterConfig{})
	t.Cleanup(func() { _ = fcl.Close(context.Background()) })
	a := startReady(t, nw, delta.Config{JvmRoute: "a"})
	if st := a.m.Stats(); st.TransferAttempts != 1 {
		t.Errorf("first node: %d attempts", st.TransferAttempts)
	}
	ids := fill(t, a, 10)
	j := startReady(t, nw, delta.Config{JvmRoute: "j"})
	checkAll(t, j, ids)
	if st := j.m.Stats(); st.TransferAttempts != 2 {
		t.Errorf("joiner: %d attempts, want 2", st.TransferAttempts)
	}
}

// A node whose manager is created but not started yet (its channel is already up), or
// stopped, answers a state transfer request at once (EVT_ALL_SESSION_NOCONTEXTMANAGER:
// the manager is registered with the cluster only while it runs), so that a node
// starting at the same moment asks another member instead of waiting for its
// StateTransferTimeout. Before Start the answer says the manager is starting (session id
// and UniqueID NOT-READY: TestSimultaneousStartIsQuiet), after Stop that there is none.
func TestGetAllBeforeStartAndAfterStop(t *testing.T) {
	nw := channeltest.NewNetwork()
	replies := make(chan *delta.Message, 1)
	f := newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		if m.Event == delta.EventNoContextManager {
			replies <- m
		}
	})
	_, ch := newChannel(t, nw)
	cl := newCluster(t, ch, delta.ClusterConfig{})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	m, err := cl.NewManager(delta.Config{Name: appName, MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(when, want string) {
		t.Helper()
		f.send(t, ch.LocalMember(), &delta.Message{Event: delta.EventGetAllSessions, Context: appName,
			SessionID: "GET-ALL", Timestamp: time.Now().UnixMilli()})
		select {
		case r := <-replies:
			if r.UniqueID != want || r.Context != appName || (r.SessionID == "NOT-READY") != (want == "NOT-READY") {
				t.Errorf("%s: answered %+v", when, r)
			}
		case <-time.After(testutil.WaitLimit):
			t.Fatalf("%s: no answer to a state transfer request", when)
		}
	}
	ask("before Start", "NOT-READY")
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ask("after Stop", "NO-CONTEXT")
}

// A fake donor drives the joiner by hand: messages queued during the transfer are
// replayed after it, except those older than the transferred state.
func TestTransferQueueAndStaleDrop(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			ctx := context.Background()
			nw := channeltest.NewNetwork()
			asked := make(chan channel.Member, 1)
			replies := make(chan *delta.Message, 1)
			f := newRaw(t, nw, func(m *delta.Message, src channel.Member) {
				switch m.Event {
				case delta.EventGetAllSessions:
					select { // the joiner asks again until it hears from the donor
					case asked <- src:
					default:
					}
				case delta.EventNoContextManager:
					replies <- m
				}
			})
			j := startNode(t, nw, delta.Config{JvmRoute: "j", KeepStaleTransferMessages: keep})
			jm := <-asked
			enc := func(v any) []byte { b, _ := delta.GobCodec{}.Marshal(v); return b }
			set := func(v string) []delta.Action {
				return []delta.Action{{Type: delta.ActionAttribute, Op: delta.OpSet, Name: "k", Value: enc(v)}}
			}
			T := time.Now().UnixMilli()
			msg := func(ev delta.Event, id string, ts int64) *delta.Message {
				return &delta.Message{Event: ev, Context: appName, SessionID: id, Timestamp: ts}
			}
			f.send(t, jm, msg(delta.EventCreated, "OLD1", T-1000))
			f.send(t, jm, msg(delta.EventCreated, "NEW1", T+1))
			d1 := msg(delta.EventDelta, "S1", T-10)
			d1.Version, d1.Actions = 5, set("stale") // the snapshot has version 5: included
			f.send(t, jm, d1)
			d2 := msg(delta.EventDelta, "S2", T-10)
			d2.Version, d2.Actions = 9, set("late") // the snapshot has version 3: missed it
			f.send(t, jm, d2)
			f.send(t, jm, msg(delta.EventGetAllSessions, "GET-ALL", T))
			if r := <-replies; r.UniqueID != "NOT-READY" {
				t.Errorf("GET_ALL during the transfer answered %+v", r)
			}
			if j.m.Ready() {
				t.Fatal("ready before the transfer completed")
			}
			chunk := msg(delta.EventAllSessionData, "SESSION-STATE", T)
			for _, s := range []struct {
				id string
				v  uint64
			}{{"S1", 5}, {"S2", 3}} {
				chunk.Sessions = append(chunk.Sessions, delta.SessionState{ID: s.id, CreationTime: T, LastAccessedTime: T,
					MaxInactive: 1800, Version: s.v, Attributes: []delta.NamedValue{{Name: "k", Value: enc("snap")}}})
			}
			f.send(t, jm, chunk)
			f.send(t, jm, msg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
			if err := j.m.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			get := func(id string) any {
				s := j.m.Find(id)
				if s == nil {
					return nil
				}
				v, _ := s.Get("k")
				if v == nil {
					return "present"
				}
				return v
			}
			st := j.m.Stats()
			if keep {
				if get("OLD1") == nil || get("S1") != "stale" || get("S2") != "late" || st.DroppedStale != 0 {
					t.Errorf("keep: OLD1 %v S1 %v S2 %v dropped %d", get("OLD1"), get("S1"), get("S2"), st.DroppedStale)
				}
				return
			}
			if get("OLD1") != nil || get("NEW1") != "present" || get("S1") != "snap" || get("S2") != "late" {
				t.Errorf("OLD1 %v NEW1 %v S1 %v S2 %v", get("OLD1"), get("NEW1"), get("S1"), get("S2"))
			}
			if st.QueuedDuringTransfer != 4 || st.DroppedStale != 2 || st.SessionsTransferred != 2 {
				t.Errorf("queued %d dropped %d transferred %d", st.QueuedDuringTransfer, st.DroppedStale, st.SessionsTransferred)
			}
		})
	}
}

func TestTransferTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		newRaw(t, nw, nil) // a member that never answers
		start := time.Now()
		j := startNode(t, nw, delta.Config{JvmRoute: "j"})
		err := j.m.WaitReady(context.Background())
		var ste *delta.StateTransferError
		if !errors.Is(err, delta.ErrStateTransferTimeout) || !errors.As(err, &ste) {
			t.Fatalf("WaitReady: %v", err)
		}
		if len(ste.Attempts) != 1 || ste.Context != appName || time.Since(start) != delta.DefaultStateTransferTimeout {
			t.Errorf("error %+v after %v", ste, time.Since(start))
		}
		if !j.m.Ready() {
			t.Error("a manager whose transfer timed out should serve anyway")
		}
		if _, err := j.m.Create(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

func TestStopDuringTransfer(t *testing.T) {
	nw := channeltest.NewNetwork()
	newRaw(t, nw, nil)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	if err := j.m.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := j.m.WaitReady(context.Background()); !errors.Is(err, delta.ErrStopped) {
		t.Errorf("WaitReady after Stop: %v", err)
	}
}

// A donor whose answer stops half way (its send failed, or the rest was lost) is asked
// again after TransferIdleTimeout, instead of the joiner waiting for
// StateTransferTimeout; the second answer completes the transfer.
func TestTransferAskedAgainWhenTheAnswerStops(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	f, asked := newAsker(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j", TransferIdleTimeout: 200 * time.Millisecond})
	T := time.Now().UnixMilli()
	chunk := func(ids ...string) *delta.Message {
		m := &delta.Message{Event: delta.EventAllSessionData, Context: appName, SessionID: "SESSION-STATE", Timestamp: T}
		for _, id := range ids {
			m.Sessions = append(m.Sessions, delta.SessionState{ID: id, CreationTime: T, LastAccessedTime: T, MaxInactive: 1800})
		}
		return m
	}
	jm := <-asked
	f.send(t, jm, chunk("S1.d")) // and nothing more
	select {
	case again := <-asked:
		if again.Key() != jm.Key() {
			t.Fatalf("asked again by %v, want %v", again.Addr(), jm.Addr())
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the joiner did not ask again")
	}
	if j.m.Ready() {
		t.Fatal("ready without the donor's end of transfer")
	}
	f.send(t, jm, chunk("S1.d", "S2.d"))
	f.send(t, jm, &delta.Message{Event: delta.EventTransferComplete, Context: appName,
		SessionID: "SESSION-STATE-TRANSFERRED", Timestamp: T})
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	st := j.m.Stats()
	if j.m.Find("S1.d") == nil || j.m.Find("S2.d") == nil || st.TransferAskedAgain != 1 || st.TransferAttempts != 1 {
		t.Errorf("S1 %v S2 %v, asked again %d, attempts %d", j.m.Find("S1.d") != nil, j.m.Find("S2.d") != nil,
			st.TransferAskedAgain, st.TransferAttempts)
	}
}

// A donor whose chunks keep coming, each sooner than TransferIdleTimeout after the last,
// is not asked again, however long the whole transfer takes.
func TestTransferNotAskedAgainWhileChunksArrive(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	f, asked := newAsker(t, nw)
	const idle = 1500 * time.Millisecond
	j := startNode(t, nw, delta.Config{JvmRoute: "j", TransferIdleTimeout: idle})
	T := time.Now().UnixMilli()
	jm := <-asked
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond) // a slow donor's pace, not synchronisation
	defer tick.Stop()
	n := 0
	for time.Since(start) < 2*idle {
		<-tick.C
		n++
		f.send(t, jm, &delta.Message{Event: delta.EventAllSessionData, Context: appName, SessionID: "SESSION-STATE",
			Timestamp: T, Sessions: []delta.SessionState{{ID: fmt.Sprintf("S%d.d", n), CreationTime: T,
				LastAccessedTime: T, MaxInactive: 1800}}})
	}
	f.send(t, jm, &delta.Message{Event: delta.EventTransferComplete, Context: appName,
		SessionID: "SESSION-STATE-TRANSFERRED", Timestamp: T})
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	st := j.m.Stats()
	if st.TransferAskedAgain != 0 || j.m.Len() != n {
		t.Errorf("asked again %d times; %d sessions, want %d", st.TransferAskedAgain, j.m.Len(), n)
	}
	select {
	case <-asked:
		t.Error("the donor was asked again")
	default:
	}
}
