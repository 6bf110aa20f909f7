package replmap_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// Start with a context that has ended fails and leaves the map stopped: its MSG_INIT
// was not sent.
func TestStartWithEndedContextFails(t *testing.T) {
	nw := channeltest.NewNetwork()
	a, b := newChannel(t, nw), newChannel(t, nw)
	for _, nd := range []*node{a, b} {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(nd.ch.Members()) == 1 })
		newMap(t, nd, replmap.Config{})
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.m.Start(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with an ended context: %v, want context.Canceled", err)
	}
	if _, err := a.m.Put(ctx(t), "k", "v"); !errors.Is(err, replmap.ErrNotStarted) {
		t.Fatalf("Put after the failed Start: %v, want ErrNotStarted", err)
	}
}
