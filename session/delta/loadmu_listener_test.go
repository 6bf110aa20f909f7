package delta_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestStopFromAMergeListenerReturns: an attribute listener that a merge of another
// member's sessions called (here a joiner's second transfer past its donor's refused
// change, transfer_unsent.go; a refresh's and a late catch-up's merges and a repair's
// load are alike) ran on the receive goroutine holding the manager's load lock for
// reading; one that stopped the manager with the event's Context waited in Stop for the
// transfer's goroutine, which, its wait ended by the stop, waited for that lock to end
// its attempt: for ever, the event's Context being context.Background() (the test hung
// until go test's -timeout: the bubble's clock does not move while a goroutine waits for
// a mutex). The merge's listeners now run once the lock is released, and Stop returns.
func TestStopFromAMergeListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		cfg := delta.Config{Replication: delta.ReplicateAcked}
		co := cutOffDonor(t, nw, cfg)
		am, s, id, ctn := co.am, co.s, co.id, co.ctn
		if err := am.Invalidate(ctx, s); err != nil {
			t.Fatalf("a's invalidation: %v", err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()

		// j's donor is c; the merge of a's sessions replaces x=c by x=a and calls the
		// listener, which stops j.
		var jm atomic.Pointer[delta.Manager]
		started := make(chan struct{})
		stopped := make(chan error, 1)
		var once sync.Once
		l := delta.SessionListenerFuncs{Destroyed: func(e delta.SessionEvent) {
			if e.Session.ID() != id {
				return
			}
			once.Do(func() {
				<-started
				stopped <- jm.Load().Stop(e.Context)
			})
		}}
		jcfg := withRoute(cfg, "j")
		jcfg.SessionListeners = []delta.SessionListener{l}
		_, jch := newChannel(t, nw)
		jm.Store(startJoiner(t, donorFirst{Channel: jch, first: ctn.Member().Key()}, delta.ClusterConfig{}, jcfg))
		close(started)
		err := nestedWithin(t, stopped, "Stop from the merge's listener")
		if err != nil && !errors.Is(err, delta.ErrStopping) {
			t.Fatalf("Stop from the merge's listener: %v", err)
		}
	})
}
