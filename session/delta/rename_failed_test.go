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
				s, err := a.Create(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Set("user", "ann"); err != nil {
					t.Fatal(err)
				}
				if err := a.Replicate(ctx, s); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				old := s.ID()
				g.fail(errors.New("connection lost"))
				id, err := a.ChangeSessionID(ctx, s, "")
				if err == nil {
					t.Fatal("ChangeSessionID succeeded though its message was not sent")
				}
				g.fail(nil)
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
		s, err := a.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("user", "ann"); err != nil {
			t.Fatal(err)
		}
		if err := a.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		old := s.ID()
		g.fail(errors.New("connection lost"))
		id, err := a.ChangeSessionID(ctx, s, "")
		if err == nil {
			t.Fatal("ChangeSessionID succeeded though its message was not sent")
		}
		g.fail(nil)
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
	_, ach := newChannel(t, nw)
	d := &droppingChannel{Channel: ach}
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked}
	a := readyManager(t, d, nil, cfg)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	c := startReady(t, nw, delta.Config{JvmRoute: "c"})
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("user", "ann"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	old := s.ID()
	ck := c.ch.LocalMember().Key()
	d.drop.Store(&ck)
	id, err := a.ChangeSessionID(ctx, s, "")
	if err == nil {
		t.Fatal("ChangeSessionID succeeded though C did not get its message")
	}
	d.drop.Store(nil)
	checkRenamed(t, "B before the resend", b.m, old, id)
	if err := a.Replicate(ctx, s); err != nil { // a request that changed nothing
		t.Fatal(err)
	}
	for name, n := range map[string]*node{"B": b, "C": c} {
		checkRenamed(t, name, n.m, old, id)
	}
	sent := a.Stats().Sent[delta.EventChangeSessionID]
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if again := a.Stats().Sent[delta.EventChangeSessionID] - sent; again != 0 {
		t.Errorf("A sent the id change %d more times after it was acknowledged", again)
	}
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
			err = fmt.Errorf("connection to %s lost", m.Addr())
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

// TestTwoPartlyFailedRenamesReachEveryMember: the first rename reached B but not C, the
// second (with the first's resend before it) C but not B. Only the oldest unsent id was
// kept, so the next message renamed it to the current id: B, which held the session
// under the middle id, was told nothing it held and kept it there. Now the renames go
// out again in their order, from the oldest id the members may hold to the current one.
func TestTwoPartlyFailedRenamesReachEveryMember(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	d := &droppingChannel{Channel: ach}
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked}
	a := readyManager(t, d, nil, cfg)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	c := startReady(t, nw, delta.Config{JvmRoute: "c"})
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("user", "ann"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	first := s.ID()
	ck, bk := c.ch.LocalMember().Key(), b.ch.LocalMember().Key()
	d.drop.Store(&ck)
	middle, err := a.ChangeSessionID(ctx, s, "")
	if err == nil {
		t.Fatal("the first ChangeSessionID succeeded though C did not get its message")
	}
	checkRenamed(t, "B after the first rename", b.m, first, middle)
	d.drop.Store(&bk)
	last, err := a.ChangeSessionID(ctx, s, "")
	if err == nil {
		t.Fatal("the second ChangeSessionID succeeded though B did not get its message")
	}
	checkRenamed(t, "C after the second rename", c.m, middle, last)
	d.drop.Store(nil)
	if err := a.Replicate(ctx, s); err != nil { // a request that changed nothing
		t.Fatal(err)
	}
	for name, n := range map[string]*node{"B": b, "C": c} {
		checkRenamed(t, name, n.m, first, last)
		checkRenamed(t, name, n.m, middle, last)
	}
	sent := a.Stats().Sent[delta.EventChangeSessionID]
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	if again := a.Stats().Sent[delta.EventChangeSessionID] - sent; again != 0 {
		t.Errorf("A sent the id changes %d more times after they were acknowledged", again)
	}
}

// TestCreateWithIDOfAnUnsentRenameRefused: a session's rename did not reach B, which
// holds it under its old id still. CreateWithID under that id made a session there as
// nothing held it here: B took its creation for its copy of the renamed session, and
// the new session's deltas applied to that copy. The id is refused (ErrSessionIDInUse)
// until the rename reached every member, and is free after.
func TestCreateWithIDOfAnUnsentRenameRefused(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	d := &droppingChannel{Channel: ach}
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked}
	a := readyManager(t, d, nil, cfg)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("user", "ann"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	old := s.ID()
	bk := b.ch.LocalMember().Key()
	d.drop.Store(&bk)
	if _, err := a.ChangeSessionID(ctx, s, ""); err == nil {
		t.Fatal("ChangeSessionID succeeded though B did not get its message")
	}
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
	_, ach := newChannel(t, nw)
	d := &droppingChannel{Channel: ach}
	cfg := delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked}
	a := readyManager(t, d, nil, cfg)
	b := startReady(t, nw, delta.Config{JvmRoute: "b"})
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("user", "ann"); err != nil {
		t.Fatal(err)
	}
	if err := a.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	old := s.ID()
	bk := b.ch.LocalMember().Key()
	d.drop.Store(&bk)
	if _, err := a.ChangeSessionID(ctx, s, ""); err == nil {
		t.Fatal("ChangeSessionID succeeded though B did not get its message")
	}
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
