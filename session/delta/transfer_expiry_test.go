package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestStaleExpiryDuringTransferIsRemembered: a joiner queues a session's
// EVT_SESSION_EXPIRED during its state transfer, and drops it as stale when the transfer
// ends (older than the donor's snapshot, which lacks the session). The session's
// EVT_SESSION_CREATED, which the expiry overtook on another connection, arrives after:
// the joiner made the copy of the logged-out session from it, since the expiry it
// dropped left no record (expired.go).
func TestStaleExpiryDuringTransferIsRemembered(t *testing.T) {
	nw := channeltest.NewNetwork()
	donor, askedDonor := newAsker(t, nw)
	q := newRaw(t, nw, nil)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	jm := waitFor(t, askedDonor)
	T := time.Now().UnixMilli()
	expiry := repairMsg(delta.EventExpired, "X.q", T-10)
	expiry.Version = 5
	q.send(t, jm, expiry)
	donor.send(t, jm, repairMsg(delta.EventAllSessionData, "SESSION-STATE", T))
	donor.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the queued expiry was dropped as stale", func() bool {
		return j.m.Stats().DroppedStale > 0
	})
	q.send(t, jm, repairMsg(delta.EventCreated, "X.q", T-20)) // overtaken by the expiry
	if j.m.Find("X.q") != nil {
		t.Errorf("the joiner holds the session whose expiry it dropped as stale")
	}
}
