package delta

import (
	"context"
	"errors"
	"testing"
)

// TestExpiringSessionNotRenamed: an expiry reads the session's id when it marks the
// session expiring (beginExpire), then removes it from the table under that id. An
// expiry another node sent is applied without the session's send slot, so a login's
// ChangeSessionID, or another node's rename, could rename the session in between: the
// removal then missed it, and the session stayed in the table, invalid, for ever (never
// swept, counted by Len, its new id taken). The test makes that interleaving by hand.
func TestExpiringSessionNotRenamed(t *testing.T) {
	ctx := context.Background()
	_, m := startLone(t, Config{})
	for _, rename := range []string{"ChangeSessionID", "a rename from the cluster"} {
		s, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		old := s.ID()
		e, ok := s.beginExpire() // the expiry's first step
		if !ok {
			t.Fatal("beginExpire")
		}
		switch rename {
		case "ChangeSessionID":
			if _, err := m.ChangeSessionID(ctx, s, ""); !errors.Is(err, ErrInvalidSession) {
				t.Errorf("%s of an expiring session: %v, want ErrInvalidSession", rename, err)
			}
		default:
			m.handleChangeID(context.Background(), &Message{Event: EventChangeSessionID, SessionID: old, NewID: old + "x"})
		}
		m.st.remove(e.id, s) // the expiry's next step
		s.endExpire()
		if n := m.Len(); n != 0 {
			t.Errorf("after %s during an expiry: %d sessions left in the table (id %s)", rename, n, s.ID())
			m.st.clear()
			m.st.closed.Store(false)
		}
	}
}
