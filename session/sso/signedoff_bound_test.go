package sso_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// A member signs off many users while this node's SignedOff calls take their time
// (expiring sessions over a slow network). Each removal started a goroutine of its own
// for its call, whatever the calls under way, so that a member removing entries over and
// over had the node hold a goroutine and an entry per removal for as long as the calls
// lasted. At most sso.MaxSignedOffCalls run at once now; a removal beyond waits for one
// to end, holding the map's calls and with them, past their bound, the receive of the
// member's messages.
func TestSignedOffCallsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		const flood = sso.MaxSignedOffCalls * 3
		release := make(chan struct{})
		var running, most, calls atomic.Int32
		held := func([]*delta.Manager) func(context.Context, string, *sso.Entry) error {
			return func(context.Context, string, *sso.Entry) error {
				calls.Add(1)
				n := running.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				<-release
				running.Add(-1)
				return nil
			}
		}
		a, _ := startSSOWith(t, nw, nil, held)
		b := startSSO(t, nw)
		seeEachOther(t, a.Map(), b.Map())
		ids := make([]string, flood)
		for i := range ids {
			id, err := b.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "FORM"})
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = id
		}
		synctest.Wait() // the entries reached a
		done := make(chan error, 1)
		go func() {
			for _, id := range ids {
				if err := b.Deregister(ctx, id); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		synctest.Wait() // every removal that is not held back started its call
		got := most.Load()
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got > sso.MaxSignedOffCalls {
			t.Errorf("%d SignedOff calls of members' removals ran at once, want at most %d", got, sso.MaxSignedOffCalls)
		}
		if n := calls.Load(); n != flood {
			t.Errorf("%d SignedOff calls, want %d", n, flood)
		}
	})
}
