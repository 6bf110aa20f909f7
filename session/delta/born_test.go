package delta_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestRefreshSparesSessionMadeAgain: a member removes session X.p (its expiry at version
// 3) and makes it again under the same id (CreateWithID: its creation carries the
// removal's version). J holds the new session's copy, made by the creation (no delta
// yet), when a refresh brings the member's record of the earlier removal: J's copy, at
// no version above the removal, was removed with the earlier session.
func TestRefreshSparesSessionMadeAgain(t *testing.T) {
	nw := channeltest.NewNetwork()
	peer, asked := newCounter(t, nw)
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 2})
	testutil.EventuallyTrue(t, 10*time.Second, "the state transfer's request", func() bool { return asked.Load() == 1 })
	T := time.Now().UnixMilli()
	transferFrom(t, peer, j, T, repairState(T, "S.p", 1, "v1"))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	to := j.ch.LocalMember()
	expiry := repairMsg(delta.EventExpired, "X.p", T+1)
	expiry.Version = 3
	peer.send(t, to, expiry)
	created := repairMsg(delta.EventCreated, "X.p", T+2)
	created.Version = 3
	peer.send(t, to, created)
	if j.m.Find("X.p") == nil {
		t.Fatal("J made no copy of the session made again")
	}
	nw.Partition(peer.tn, j.tn)
	nw.Heal(peer.tn, j.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's request", func() bool { return asked.Load() >= 2 })
	transferFrom(t, peer, j, T+3, repairState(T, "S.p", 1, "v1"), delta.SessionState{ID: "X.p", Version: 3, Removed: true})
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool { return j.m.Stats().QuorumRefreshes == 1 })
	if j.m.Find("X.p") == nil {
		t.Error("the refresh removed the copy of the session made again above the removal it merged")
	}
	if got := j.m.Stats().RefreshRemovals; got != 0 {
		t.Errorf("RefreshRemovals = %d, want 0", got)
	}
}
