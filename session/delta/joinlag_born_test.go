package delta_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestJoinerCatchUpSparesSessionMadeAgain is TestJoinerSparesSessionMadeAgain for a
// session a joiner gets from its catch-up: a, which lists j late, invalidated a session
// before j started (j's donor d sent j the removal's record) and made it again under the
// same id after d read its sessions for j. j's catch-up with a brings the new session;
// the earlier session's EVT_SESSION_EXPIRED, reaching j late, removed it, as the copy
// the catch-up added did not know it was made again above the removal j held the record
// of. It now learns it from that record, as a state transfer's copy does.
func TestJoinerCatchUpSparesSessionMadeAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		d := startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
		a, hidden := startLateViewed(t, nw)
		am := a.m
		r, lastExpiry := newExpiryCatcher(t, nw)
		const id = "tok"
		s, err := am.CreateWithID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("k", 0); err != nil {
			t.Fatal(err)
		}
		if err := am.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := am.Invalidate(ctx, s); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		late := lastExpiry()
		if late == nil {
			t.Fatal("a sent no expiry")
		}
		time.Sleep(time.Minute) // the removal is older than j's catch-up window

		jtn, jch := newChannel(t, nw)
		k := jtn.Member().Key()
		hidden.Store(&k)
		j := startManager(t, jtn, jch, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked,
			MemberWait: 10 * time.Second})
		synctest.Wait()
		again, err := am.CreateWithID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := again.Set("k", 1); err != nil {
			t.Fatal(err)
		}
		if err := am.Replicate(ctx, again); err != nil {
			t.Fatal(err)
		}
		hidden.Store(nil)
		if err := j.m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		if j.m.Find(id) == nil {
			t.Fatal("j's catch-up did not bring the session made again")
		}
		r.send(t, j.ch.LocalMember(), late)
		c := j.m.Find(id)
		if c == nil {
			t.Fatal("the earlier session's late expiry removed the session made again that j's catch-up brought")
		}
		if v, _ := delta.Attr[int](c, "k"); v != 1 {
			t.Errorf("k on j is %d, want 1", v)
		}
		if v, _ := delta.Attr[int](d.m.Find(id), "k"); v != 1 {
			t.Errorf("k on d is %d, want 1", v)
		}
	})
}
