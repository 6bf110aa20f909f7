package delta_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestTakenThroughAMergeAnswersAMemberBack end to end, through a real refresh: j, of a
// cluster of 2 whose other member is peer (a raw member), takes S.p and S.q at version 1
// in its state transfer; a partition cuts them apart and heals, and j's refresh gets S.p
// at version 2 (taken: its merge loads it) and S.q at version 1 again (nothing taken).
// peer then asks j as a member back in view (AskBack) for what it sent or took since
// before the transfer: j sent no message about either session, and its answer holds S.p,
// logged as taken by the refresh's merge, and not S.q.
func TestTakenThroughARefreshAnswersAMemberBack(t *testing.T) {
	const askID = "GET-ALL-member-back"
	nw := channeltest.NewNetwork()
	var asks, ends atomic.Int32
	var mu sync.Mutex
	var answered []string
	peer := newRaw(t, nw, func(m *delta.Message, _ channel.Member) {
		switch {
		case m.Event == delta.EventGetAllSessions: // a transfer's or a refresh's request
			asks.Add(1)
		case m.Event == delta.EventAllSessionData && m.UniqueID == askID:
			mu.Lock()
			defer mu.Unlock()
			for _, st := range m.Sessions {
				if !st.Removed {
					answered = append(answered, st.ID)
				}
			}
		case m.Event == delta.EventTransferComplete && m.UniqueID == askID:
			ends.Add(1)
		}
	})
	j := startNode(t, nw, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked, ClusterSize: 2})
	testutil.EventuallyTrue(t, 10*time.Second, "the state transfer's request", func() bool { return asks.Load() == 1 })
	T := time.Now().UnixMilli()
	transferFrom(t, peer, j, T, repairState(T, "S.p", 1, "v1"), repairState(T, "S.q", 1, "v1"))
	if err := j.m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	nw.Partition(peer.tn, j.tn)
	nw.Heal(peer.tn, j.tn)
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's request", func() bool { return asks.Load() == 2 })
	transferFrom(t, peer, j, T+1, repairState(T, "S.p", 2, "v2"), repairState(T, "S.q", 1, "v1"))
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's end", func() bool {
		return j.m.Stats().QuorumRefreshes == 1 && valueK(j.m, "S.p") == "v2"
	})

	age := uint64(time.Now().UnixMilli() - T + 1000) // from before the transfer
	peer.send(t, j.ch.LocalMember(), &delta.Message{Event: delta.EventGetAllSessions, Context: appName,
		SessionID: "GET-ALL", UniqueID: askID, Timestamp: time.Now().UnixMilli(),
		Version: delta.AskStamps | delta.AskEcho | delta.AskRecent | delta.AskBack | age<<delta.AskAgeShift})
	testutil.EventuallyTrue(t, 10*time.Second, "j's answer to the member back", func() bool { return ends.Load() == 1 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(answered, "S.p") || slices.Contains(answered, "S.q") {
		t.Errorf("j's answer to a member back carried %v, want S.p (taken through the refresh) and not S.q "+
			"(the refresh brought the version j held)", answered)
	}
}
