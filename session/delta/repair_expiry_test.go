package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestRepairDoesNotBringBackAnExpiredSession: a running node gets a delta about a session
// it lacks from R and asks R for its sessions; meanwhile Q invalidates the session (a
// logout) and its EVT_SESSION_EXPIRED reaches the node, which holds nothing to remove,
// and R only after R's answer was taken. The node loaded the session from that answer and
// applied the delta: a logged-out session, valid there only, after it had acknowledged
// the logout.
func TestRepairDoesNotBringBackAnExpiredSession(t *testing.T) {
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
	r.send(t, jm, repairSet(repairMsg(delta.EventDelta, "X.r", T+10), 3, "v3"))
	waitFor(t, askedR) // the repair asks R
	q.send(t, jm, repairMsg(delta.EventExpired, "X.r", T+20))
	chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T+15)
	chunk.Sessions = []delta.SessionState{repairState(T, "X.r", 2, "v2")}
	r.send(t, jm, chunk)
	r.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+15))
	testutil.EventuallyTrue(t, 10*time.Second, "the repair ended", func() bool { return delta.RepairIdle(j.m) })
	if j.m.Find("X.r") != nil {
		t.Errorf("the session invalidated during the repair is valid on the node (k=%v)", valueK(j.m, "X.r"))
	}
}

// TestTransferRepairDoesNotBringBackAnExpiredSession: the same during a joiner's state
// transfer: a delta about a session the donor's snapshot lacks, then its expiry, both
// queued; the joiner asked the delta's sender for its sessions and loaded the session from
// an answer taken before that sender applied the expiry. Now a session whose expiry the
// joiner replayed is not asked for.
func TestTransferRepairDoesNotBringBackAnExpiredSession(t *testing.T) {
	nw := channeltest.NewNetwork()
	donor, askedDonor := newAsker(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	jm := waitFor(t, askedDonor)
	T := time.Now().UnixMilli()
	var sender *raw
	sender = newRaw(t, nw, func(m *delta.Message, src channel.Member) {
		if m.Event != delta.EventGetAllSessions || m.Version&delta.AskRecent != 0 {
			return // not the repair's question (a catch-up's gets no answer: nothing to give)
		}
		go func() { // answer with the session, as taken before the expiry reached it
			chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T+5)
			chunk.Sessions = []delta.SessionState{repairState(T, "X.r", 3, "v3")}
			for _, m := range []*delta.Message{chunk, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T+5)} {
				data, _ := sender.codec.AppendMessage(nil, m)
				if err := sender.ch.Send(context.Background(), []channel.Member{src}, data,
					channel.OptUseAck|channel.OptSyncAck); err != nil {
					t.Error(err)
				}
			}
		}()
	})
	expirer := newRaw(t, nw, nil)
	testutil.EventuallyTrue(t, 10*time.Second, "the joiner lists the members", func() bool {
		return len(j.ch.Members()) == 3
	})
	sender.send(t, jm, repairSet(repairMsg(delta.EventDelta, "X.r", T+1), 3, "v3"))
	expirer.send(t, jm, repairMsg(delta.EventExpired, "X.r", T+2))
	donor.send(t, jm, repairMsg(delta.EventAllSessionData, "SESSION-STATE", T))
	donor.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if j.m.Find("X.r") != nil {
		t.Errorf("the session expired during the transfer is valid on the joiner (k=%v)", valueK(j.m, "X.r"))
	}
}
