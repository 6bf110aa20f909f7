package delta_test

import (
	"sync"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
)

// Members flood a node with catch-up requests (AskRecent), each on many receive
// goroutines at once, while the answers' sends take their time. A catch-up is answered
// on the goroutine that received it; it took no slot and a member could have any number
// of them served at once, so that one member (or a process posing as one) ran an answer
// on every receive worker (15 answers at once for 3 members asking 5 times each, beyond
// Config.MaxConcurrentTransfers). Catch-up answers now take one of as many slots of
// their own, and a member's request while its previous one is served or waits is
// dropped: at most MaxConcurrentTransfers answers run at once, each member gets one.
func TestCatchUpFloodBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const nMembers, perMember, limit = 3, 5, 2
		var members []channel.Member
		for i := range nMembers {
			members = append(members, fakeMember(int32(4101+i), byte(i+1)))
		}
		f, _, m, _, _ := fakeCluster(t, delta.Config{MaxConcurrentTransfers: limit}, members...)
		f.hold = make(chan struct{})
		ask := &delta.Message{Event: delta.EventGetAllSessions, Context: appName, SessionID: "GET-ALL",
			Version: delta.AskRecent | 60_000<<delta.AskAgeShift}
		var wg sync.WaitGroup
		for _, mem := range members {
			for range perMember {
				wg.Go(func() { f.from(t, mem, ask) })
			}
		}
		synctest.Wait()
		if n := f.inFlight.Load(); n > limit {
			t.Errorf("%d catch-up answers sent at once for %d requests of %d members, want at most %d",
				n, nMembers*perMember, nMembers, limit)
		}
		close(f.hold)
		wg.Wait()
		synctest.Wait()
		if p := f.peakInFlight.Load(); p > limit {
			t.Errorf("peak of %d catch-up answers at once, want at most %d", p, limit)
		}
		done := map[channel.MemberKey]int{}
		for _, s := range f.sends() {
			if s.msg.Event == delta.EventTransferComplete {
				done[s.to[0].Key()]++
			}
		}
		for _, mem := range members {
			if done[mem.Key()] < 1 {
				t.Errorf("member %v got no catch-up answer", mem.Port)
			}
		}
		if st := m.Stats(); st.TransfersActive != 0 || st.TransfersWaiting != 0 {
			t.Errorf("active %d, waiting %d after the answers", st.TransfersActive, st.TransfersWaiting)
		}
	})
}
