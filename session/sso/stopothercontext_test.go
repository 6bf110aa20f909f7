package sso_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// TestStopFromSignedOffWithAnotherContextReturnsAtItsEnd pins what Stop's doc says of a
// SignedOff call of a member's removal that stops the SSO with a context not derived
// from the call's (nothing marks that Stop as the call's, and Stop waits for the calls
// under way, as TestStopHonoursItsContext shows): it waits for its own call until that
// context ends, then returns its error, the map left; a later Stop from outside, once
// the call returned, returns nil.
func TestStopFromSignedOffWithAnotherContextReturnsAtItsEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		var self atomic.Pointer[sso.SSO]
		stopped := make(chan error, 1)
		stopping := func([]*delta.Manager) func(context.Context, string, *sso.Entry) error {
			return func(context.Context, string, *sso.Entry) error {
				sctx, cancel := context.WithTimeout(context.Background(), time.Hour) // not the call's
				defer cancel()
				stopped <- self.Load().Stop(sctx)
				return nil
			}
		}
		a, _ := startSSOWith(t, nw, nil, stopping)
		self.Store(a)
		b := startSSO(t, nw)
		seeEachOther(t, a.Map(), b.Map())
		id, err := b.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "FORM"})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the entry reached a
		start := time.Now()
		if err := b.Deregister(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := <-stopped; !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stop from a SignedOff with another context: %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d < time.Hour {
			t.Errorf("Stop from a SignedOff with another context returned after %v, before that context ended", d)
		}
		if ms := b.Map().Members(); len(ms) != 0 {
			t.Errorf("b's map lists %v after a's Stop, want none (a left it)", ms)
		}
		if err := a.Stop(ctx); err != nil {
			t.Errorf("a later Stop once SignedOff returned: %v", err)
		}
	})
}
