package delta_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// TestTransferReplaysRemovalsOfSessionsItHolds: a joiner's first donor dies after its
// sessions arrived and before its "complete"; meanwhile another member invalidates one of
// them and renames another (a login's ChangeID), and the joiner queues both messages. The
// next donor's snapshot, taken after them, lacks the invalidated session and holds the
// renamed one under its new id; the two messages are older than it, and were dropped as
// stale (Tomcat's stateTimestampDrop), so the joiner kept the first donor's copies: a
// logged-out session, and the pre-login id of a logged-in one, both valid there.
func TestTransferReplaysRemovalsOfSessionsItHolds(t *testing.T) {
	ctx := context.Background()
	nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked})
	ids := fill(t, a, 20) // one chunk
	gone, renamed := ids[0], ids[1]
	var newID string
	var once sync.Once
	tn, ch := newChannel(t, nw)
	// Registered before the cluster's, this listener sees A's "complete" first: A's
	// sessions are all loaded by then (each chunk is acknowledged once applied).
	ch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		m, err := (delta.BinaryCodec{}).DecodeMessage(msg.Data)
		if err != nil || m.Event != delta.EventTransferComplete {
			return nil
		}
		once.Do(func() {
			if err := c.m.Invalidate(ctx, c.m.Find(gone)); err != nil {
				t.Error(err)
			}
			var err error
			if newID, err = c.m.ChangeSessionID(ctx, c.m.Find(renamed), ""); err != nil {
				t.Error(err)
			}
			// B's snapshot must be strictly later than both messages (whole ms).
			sent := time.Now().UnixMilli()
			for deadline := time.Now().Add(time.Second); time.Now().UnixMilli() <= sent && time.Now().Before(deadline); {
			}
			nw.Kill(a.tn) // the joiner asks B at once
		})
		return nil
	}))
	j := startManager(t, tn, ch, delta.Config{JvmRoute: "j"})
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if st := j.m.Stats(); st.TransferAttempts != 2 || st.TransferDonor != b.tn.Member().Addr() {
		t.Fatalf("attempts %d, donor %s: want 2, B", st.TransferAttempts, st.TransferDonor)
	}
	if j.m.Find(gone) != nil {
		t.Errorf("the session invalidated during the transfer is valid on the joiner")
	}
	if j.m.Find(renamed) != nil {
		t.Errorf("the old id of the session renamed during the transfer is valid on the joiner")
	}
	if j.m.Find(newID) == nil {
		t.Errorf("the renamed session is missing under its new id")
	}
	if j.m.Len() != b.m.Len() {
		t.Errorf("the joiner holds %d sessions, B %d", j.m.Len(), b.m.Len())
	}
}
