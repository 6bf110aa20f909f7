package sso_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// TestStopHonoursItsContext: Stop waited for the SignedOff calls of members' removals
// without looking at its context, so a SignedOff that did not return held it for ever.
// It now returns ctx's error when ctx ends, the call left to finish; a later Stop waits
// for it.
func TestStopHonoursItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		nw := channeltest.NewNetwork()
		entered, release := make(chan struct{}), make(chan struct{})
		held := func([]*delta.Manager) func(context.Context, string, *sso.Entry) error {
			return func(context.Context, string, *sso.Entry) error {
				close(entered)
				<-release // ignores its context
				return nil
			}
		}
		a, _ := startSSOWith(t, nw, nil, held)
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
		<-entered // a's SignedOff runs
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		stopped := make(chan error, 1)
		go func() { stopped <- a.Stop(sctx) }()
		time.Sleep(2 * time.Second) // the bubble's clock: sctx has ended
		synctest.Wait()
		select {
		case err := <-stopped:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Stop with a SignedOff held: %v, want context.DeadlineExceeded", err)
			}
		default:
			t.Error("Stop still waits for a held SignedOff after its context ended")
			close(release)
			<-stopped
			return
		}
		close(release)
		if err := a.Stop(ctx); err != nil {
			t.Errorf("a later Stop once SignedOff returned: %v", err)
		}
	})
}
