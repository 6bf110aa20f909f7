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

// TestStopFromSignedOffReturns: a SignedOff of a member's removal that stopped the SSO
// with its own context waited in Stop for the SignedOff calls, its own among them, until
// that context ended (Stop cancels it: Stop then returned a context error for calls
// "still running", only its own). Such a Stop now stops the SSO and returns ErrStopping
// at once, as session/delta's Stop called from its own listener does; a later Stop from
// outside waits for that SignedOff and returns nil.
func TestStopFromSignedOffReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		var self atomic.Pointer[sso.SSO]
		stopped, release := make(chan error, 1), make(chan struct{})
		stopping := func([]*delta.Manager) func(context.Context, string, *sso.Entry) error {
			return func(ctx context.Context, _ string, _ *sso.Entry) error {
				sctx, cancel := context.WithTimeout(ctx, time.Hour) // derived from the call's
				defer cancel()
				stopped <- self.Load().Stop(sctx)
				<-release
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
		if err := b.Deregister(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := <-stopped; !errors.Is(err, sso.ErrStopping) {
			t.Errorf("Stop from a SignedOff with its context: %v, want sso.ErrStopping", err)
		}
		synctest.Wait()
		if ms := b.Map().Members(); len(ms) != 0 {
			t.Errorf("b's map lists %v after a's Stop from a SignedOff, want none (a left it)", ms)
		}
		later := make(chan error, 1)
		go func() { later <- a.Stop(ctx) }()
		synctest.Wait()
		select {
		case err := <-later:
			t.Errorf("a later Stop returned (%v) with a SignedOff still running", err)
		default:
		}
		close(release)
		if err := <-later; err != nil {
			t.Errorf("a later Stop once SignedOff returned: %v", err)
		}
	})
}
