package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestRepairAfterExpiryDoesNotBringBackTheSession: a session's EVT_SESSION_EXPIRED (a
// logout on Q) overtakes a delta of it from R on another connection: the node holds
// nothing to remove, remembers the removal (expired.go), and then lacks the session the
// delta names, so it asks R for its sessions; R's answer was taken before the expiry
// reached R. The node loaded the session from that answer: a logged-out session, valid
// there only, although the node had received the logout before.
func TestRepairAfterExpiryDoesNotBringBackTheSession(t *testing.T) {
	nw := channeltest.NewNetwork()
	r, askedR := newAsker(t, nw)
	q := newRaw(t, nw, nil)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	jm := waitFor(t, askedR)
	T := time.Now().UnixMilli()
	r.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	expiry := repairMsg(delta.EventExpired, "X.r", T+20)
	expiry.Version = 5 // above every change of the session its sender held
	q.send(t, jm, expiry)
	r.send(t, jm, repairSet(repairMsg(delta.EventDelta, "X.r", T+10), 3, "v3")) // it overtook this
	// The repair asks R.
	waitFor(t, askedR)
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T+15)
	chunk.Sessions = []delta.SessionState{repairState(T, "X.r", 3, "v3")}
	r.send(t, jm, chunk)
	r.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+15))
	testutil.EventuallyTrue(t, 10*time.Second, "the repair ended", func() bool { return delta.RepairIdle(j.m) })
	if j.m.Find("X.r") != nil {
		t.Errorf("the session whose expiry arrived before the repair is valid on the node (k=%v)", valueK(j.m, "X.r"))
	}
}
