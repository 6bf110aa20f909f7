// Package nodetest starts node channels for the module's tests.
package nodetest

import (
	"context"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/node"
)

// TB is the part of testing.TB Start uses.
type TB interface {
	testutil.TB
	Errorf(format string, args ...any)
}

// Start makes a channel with node.New(cfg) and starts every service; the channel stops
// when the test ends, and an error stopping it fails the test.
func Start(tb TB, cfg node.Config) *channel.Channel {
	tb.Helper()
	ch, err := node.New(cfg)
	if err != nil {
		tb.Fatalf("node.New: %v", err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ch.Stop(ctx, channel.SvcAll); err != nil {
			tb.Errorf("stop: %v", err)
		}
	})
	return ch
}
