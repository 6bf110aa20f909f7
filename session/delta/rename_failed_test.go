package delta_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestFailedRenameIsSentAgain: a login's ChangeSessionID whose EVT_CHANGE_SESSION_ID
// failed (the send to every member, or to one of them) returned the error, and the
// session kept its new id here while the members that missed the message kept it under
// the old one: a request with the new cookie on such a member found no session (the user
// logged out), and one with the old cookie a session this node renamed against fixation.
// Nothing sent the rename again. Now the session's next message (here the request's
// Replicate, with nothing else to send) carries it first, as a failed
// EVT_SESSION_ACCESSED is sent again.
func TestFailedRenameIsSentAgain(t *testing.T) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAcked, delta.ReplicateAsync} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				nw := channeltest.NewNetwork()
				a, g := startGated(t, nw, nil, delta.Config{JvmRoute: "a", Replication: mode})
				b := startReady(t, nw, delta.Config{JvmRoute: "b", Replication: mode})
				s := delta.CreateReplicated(t, a, "user", "ann")
				synctest.Wait()
				old, id := renameFailing(t, a, g, s)
				if err := a.Replicate(ctx, s); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				checkRenamed(t, "B", b.m, old, id)
			})
		})
	}
}

// TestFailedRenameSentBeforeTheInvalidation: a session whose rename failed to reach B
// is invalidated (a logout): B held it under the old id and kept it, the expiry naming
// the new one. The rename goes first now, and B removes the session.
func TestFailedRenameSentBeforeTheInvalidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		a, g := startGated(t, nw, nil, cfg)
		b := startReady(t, nw, cfg)
		s := delta.CreateReplicated(t, a, "user", "ann")
		old, id := renameFailing(t, a, g, s)
		if err := a.Invalidate(ctx, s); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if b.m.Find(old) != nil || b.m.Find(id) != nil {
			t.Errorf("B holds the invalidated session: under the old id %v, under the new %v",
				b.m.Find(old) != nil, b.m.Find(id) != nil)
		}
	})
}

// TestPartlyFailedRenameIsSentAgain: the rename reached B but not C. The next message
// carries it again: C renames its copy, B, which holds the new id already, is left as it
// is, and once acknowledged the rename is not sent again.
func TestPartlyFailedRenameIsSentAgain(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	c := startReady(t, nw, delta.Config{JvmRoute: "c"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	old := s.ID()
	id := renameMissing(t, a, d, s, "C", c)
	d.drop.Store(nil)
	checkRenamed(t, "B before the resend", b.m, old, id)
	if err := a.Replicate(ctx, s); err != nil { // a request that changed nothing
		t.Fatal(err)
	}
	for name, n := range map[string]*node{"B": b, "C": c} {
		checkRenamed(t, name, n.m, old, id)
	}
	checkRenameNotResent(t, a, s)
}

// droppingChannel sends to every member but the one whose key drop holds (the send then
// fails), as a connection to that member lost on the way.
type droppingChannel struct {
	*channel.Channel
	drop atomic.Pointer[channel.MemberKey]
}

func (d *droppingChannel) filter(to []channel.Member) ([]channel.Member, error) {
	drop := d.drop.Load()
	if drop == nil {
		return to, nil
	}
	if len(to) == 0 {
		to = d.Members()
	}
	var kept []channel.Member
	var err error
	for _, m := range to {
		if m.Key() == *drop {
			// As the channel reports a member it cannot connect to: the member the
			// send failed for, the message never sent to it.
			err = &channel.SendError{Faulty: []channel.FaultyMember{{Member: m, Err: fmt.Errorf("%w: %s", channel.ErrConnect, m.Addr())}}}
			continue
		}
		kept = append(kept, m)
	}
	return kept, err
}

func (d *droppingChannel) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	kept, lost := d.filter(to)
	if len(kept) == 0 {
		return lost
	}
	return errors.Join(d.Channel.Send(ctx, kept, data, opts), lost)
}

func (d *droppingChannel) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	kept, lost := d.filter(to)
	if len(kept) == 0 {
		return lost
	}
	return errors.Join(d.Channel.SendMessage(ctx, kept, msg), lost)
}

// checkRenamed checks that m holds the session under id, with its attribute, and not
// under old.
func checkRenamed(t *testing.T, who string, m *delta.Manager, old, id string) {
	t.Helper()
	if m.Find(old) != nil {
		t.Errorf("%s still holds the session under its old id", who)
	}
	s := m.Find(id)
	if s == nil {
		t.Fatalf("%s holds no session under the new id", who)
	}
	if v, _ := delta.Attr[string](s, "user"); v != "ann" {
		t.Errorf("%s: user=%q under the new id, want ann", who, v)
	}
}

// startDropping starts A (route a, acknowledged replication), ready, on a channel of nw
// that drops the sends to the member d.drop names.
func startDropping(t *testing.T, nw *channeltest.Network) (*delta.Manager, *droppingChannel) {
	t.Helper()
	_, ach := newChannel(t, nw)
	d := &droppingChannel{Channel: ach}
	return readyManager(t, d, nil, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked}), d
}

// renameFailing changes s's id on a while every send fails, checks that the change
// reports it, and lets the sends succeed again. It returns the old id and the new one.
func renameFailing(t *testing.T, a *delta.Manager, g *gatedChannel, s *delta.Session) (old, id string) {
	t.Helper()
	old = s.ID()
	g.fail(errors.New("connection lost"))
	defer g.fail(nil)
	id, err := a.ChangeSessionID(context.Background(), s, "")
	if err == nil {
		t.Fatal("ChangeSessionID succeeded though its message was not sent")
	}
	return old, id
}

// renameMissing changes s's id on a while the sends to n (who) are dropped, checks that
// the change reports it, and returns the new id. The sends to n stay dropped until the
// caller clears d.drop.
func renameMissing(t *testing.T, a *delta.Manager, d *droppingChannel, s *delta.Session, who string, n *node) string {
	t.Helper()
	k := n.ch.LocalMember().Key()
	d.drop.Store(&k)
	id, err := a.ChangeSessionID(context.Background(), s, "")
	if err == nil {
		t.Fatalf("ChangeSessionID succeeded though %s did not get its message", who)
	}
	return id
}

// checkRenameNotResent replicates s, unchanged, from a once more and checks that the
// message carries no id change: the renames sent before were acknowledged.
func checkRenameNotResent(t *testing.T, a *delta.Manager, s *delta.Session) {
	t.Helper()
	sent := a.Stats().Sent[delta.EventChangeSessionID]
	if err := a.Replicate(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if again := a.Stats().Sent[delta.EventChangeSessionID] - sent; again != 0 {
		t.Errorf("A sent id changes %d more times after they were acknowledged", again)
	}
}

// TestTwoPartlyFailedRenamesReachEveryMember: the first rename reached B but not C, the
// second (with the first's resend before it) C but not B. Only the oldest unsent id was
// kept, so the next message renamed it to the current id: B, which held the session
// under the middle id, was told nothing it held and kept it there. Now the renames go
// out again in their order, from the oldest id the members may hold to the current one.
func TestTwoPartlyFailedRenamesReachEveryMember(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	c := startReady(t, nw, delta.Config{JvmRoute: "c"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	first := s.ID()
	middle := renameMissing(t, a, d, s, "C", c)
	checkRenamed(t, "B after the first rename", b.m, first, middle)
	last := renameMissing(t, a, d, s, "B", b)
	checkRenamed(t, "C after the second rename", c.m, middle, last)
	d.drop.Store(nil)
	if err := a.Replicate(ctx, s); err != nil { // a request that changed nothing
		t.Fatal(err)
	}
	for name, n := range map[string]*node{"B": b, "C": c} {
		checkRenamed(t, name, n.m, first, last)
		checkRenamed(t, name, n.m, middle, last)
	}
	checkRenameNotResent(t, a, s)
}

// TestCreateWithIDOfAnUnsentRenameRefused: a session's rename did not reach B, which
// holds it under its old id still. CreateWithID under that id made a session there as
// nothing held it here: B took its creation for its copy of the renamed session, and
// the new session's deltas applied to that copy. The id is refused (ErrSessionIDInUse)
// until the rename reached every member, and is free after.
func TestCreateWithIDOfAnUnsentRenameRefused(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	old := s.ID()
	renameMissing(t, a, d, s, "B", b)
	d.drop.Store(nil)
	if _, err := a.CreateWithID(ctx, old); !errors.Is(err, delta.ErrSessionIDInUse) {
		t.Fatalf("CreateWithID under the id B still holds the renamed session under: %v, want ErrSessionIDInUse", err)
	}
	if got := a.Find(old); got != nil {
		t.Errorf("A holds a session under the refused id")
	}
	if err := a.Replicate(ctx, s); err != nil { // the rename goes out again
		t.Fatal(err)
	}
	checkRenamed(t, "B", b.m, old, s.ID())
	n, err := a.CreateWithID(ctx, old)
	if err != nil {
		t.Fatalf("CreateWithID once the rename reached B: %v", err)
	}
	if err := n.Set("user", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, n); err != nil {
		t.Fatal(err)
	}
	checkRenamed(t, "B after the new session", b.m, "", s.ID())
	if cp := b.m.Find(old); cp == nil {
		t.Error("B has no copy of the new session")
	} else if v, _ := delta.Attr[string](cp, "user"); v != "bob" {
		t.Errorf("B's copy of the new session: user=%q, want bob", v)
	}
}

// TestCreateWithIDAfterAnUnsentRenameAndExpiry: a session whose rename did not reach B
// was invalidated, the rename and the expiry failing to reach B again: B holds the
// session under its old id. CreateWithID under that id (free here now) started the new
// session at version 0, and B applied its creation and deltas to the stale copy (its
// user stayed). The old id's removal is recorded at the session's version, so the new
// session starts above it and B replaces the stale copy.
func TestCreateWithIDAfterAnUnsentRenameAndExpiry(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, d := startDropping(t, nw)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s := delta.CreateReplicated(t, a, "user", "ann")
	old := s.ID()
	renameMissing(t, a, d, s, "B", b)
	if err := a.Invalidate(ctx, s); err == nil {
		t.Fatal("Invalidate succeeded though B did not get its messages")
	}
	d.drop.Store(nil)
	n, err := a.CreateWithID(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Set("cart", "1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, n); err != nil {
		t.Fatal(err)
	}
	cp := b.m.Find(old)
	if cp == nil {
		t.Fatal("B has no copy of the new session")
	}
	if v, ok := delta.Attr[string](cp, "user"); ok {
		t.Errorf("B's copy of the new session has the earlier session's user %q", v)
	}
	if v, _ := delta.Attr[string](cp, "cart"); v != "1" {
		t.Errorf("B's copy: cart=%q, want 1", v)
	}
}
