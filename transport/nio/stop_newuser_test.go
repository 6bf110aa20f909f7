package nio

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// docs/operations.md, "Sizing a node", advised MaxRetryAttempts 0 "when a duplicate
// delivery is worse than a failure", but 0 means the default (1): the failed message was
// delivered twice. The doc now says -1, which this test follows. (Found by review.)
func TestNoRetriesAsOperationsDocSays(t *testing.T) {
	rec := newRecorder(4)
	rec.setErr(func(*channel.Message) error { return errors.New("no") })
	b := startNode(t, testConfig(), rec.rx)
	cfg := testConfig()
	cfg.MaxRetryAttempts = -1 // as docs/operations.md advises against duplicate deliveries
	a := startNode(t, cfg, nil)
	err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck|channel.OptSyncAck, nil))
	if !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("err = %v", err)
	}
	rec.next(t)
	if st := a.t.Stats(); st.Retries != 0 {
		t.Errorf("MaxRetryAttempts -1 (docs/operations.md: \"-1 (none) when a duplicate delivery is worse than a failure\"): %d retries, the listener saw the message twice", st.Retries)
	}
}

// A transport that never received a message, stopped with a cancelled context (README's
// snippet stopped with the context it started with, cancelled once the program was
// interrupted), reported that its "receiver [was] still delivering on its event loops or
// connections", which was not the case; and a shutdown that had completed could be
// reported as cut short (select picks at random among ready cases). Now the error, when
// the shutdown is still under way, says so and wraps the context's error; README stops
// with a context of its own. (Found by review.)
func TestIdleStopWithCancelledContext(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		failed := 0
		for range 20 {
			tr, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Start(context.Background(), channel.SvcTransport, func(*channel.Message) error { return nil }); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err = tr.Stop(ctx, channel.SvcTransport)
			if err != nil {
				failed++
				if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "still delivering") {
					t.Fatalf("idle transport stopped with a cancelled context: %v", err)
				}
			}
		}
		t.Logf("%d of 20 stops reported the context's end", failed)
	})
}
