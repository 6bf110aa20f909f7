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

// TestStaleRenameDuringTransferIsRemembered: a joiner queues a session's
// EVT_CHANGE_SESSION_ID during its state transfer and drops it as stale, the donor's
// snapshot holding the session under its new id. A delta of another member under the old
// id, which crossed the rename, arrives after: it applies to the renamed session on the
// donor and every member (renamed.go), but the joiner, which kept no record of the rename
// it dropped, lost it.
func TestStaleRenameDuringTransferIsRemembered(t *testing.T) {
	nw := channeltest.NewNetwork()
	donor, askedDonor := newAsker(t, nw)
	q := newRaw(t, nw, nil)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	jm := waitFor(t, askedDonor)
	T := time.Now().UnixMilli()
	rename := repairMsg(delta.EventChangeSessionID, "X.q", T-10)
	rename.NewID = "Y.q"
	q.send(t, jm, rename)
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T)
	chunk.Sessions = []delta.SessionState{repairState(T-100, "Y.q", 2, "v2")}
	donor.send(t, jm, chunk)
	donor.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the queued rename was dropped as stale", func() bool {
		return j.m.Stats().DroppedStale > 0
	})
	q.send(t, jm, repairSet(repairMsg(delta.EventDelta, "X.q", T+5), 3, "v3")) // crossed the rename
	if v := valueK(j.m, "Y.q"); v != "v3" {
		t.Errorf("k of the renamed session on the joiner is %v, want v3 (the delta that crossed the rename)", v)
	}
}
