package delta_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// unreachableChannel is a delta.Channel whose sends all fail as a send to a listed member
// that does not run yet fails: with an error wrapping channel.ErrConnect.
type unreachableChannel struct{ *channel.Channel }

func (c unreachableChannel) Send(_ context.Context, to []channel.Member, _ []byte, _ channel.SendOptions) error {
	return fmt.Errorf("%w: dial tcp %s: connect: connection refused", channel.ErrConnect, to[0].Addr())
}

// TestUnreachableDonorIsLogged: a starting manager whose only member cannot be connected
// to (a static member listed before it runs, as when a newcomer starts two nodes one after
// the other) starts empty once Config.MemberWait ends, as before; but its log said only
// "asking for the sessions", then "no member to ask for the sessions yet; waiting for one",
// so the member listed seemed not to count and the connect failure was never told. The
// failed attempt is now logged with the member and its error, and the wait says that no
// other member is left to ask.
func TestUnreachableDonorIsLogged(t *testing.T) {
	ctx := context.Background()
	var logs lockedBuffer
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	_, bch := newChannel(t, nw)
	if err := ach.WaitForMembers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cl := newCluster(t, unreachableChannel{ach}, delta.ClusterConfig{Logger: logger})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: "a", MemberWait: 300 * time.Millisecond,
		Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.WaitReady(wctx); err != nil {
		t.Fatalf("a manager whose only member cannot be connected to did not start empty: %v", err)
	}
	log := logs.String()
	donor := "member=" + bch.LocalMember().Addr()
	var failure bool
	for line := range strings.Lines(log) {
		failure = failure || strings.Contains(line, "cannot connect to the member") && strings.Contains(line, donor) &&
			strings.Contains(line, "connection refused")
	}
	if !failure {
		t.Errorf("no log line tells that the member (%s) could not be connected to, with the error:\n%s", donor, log)
	}
	if strings.Contains(log, "no member to ask") || !strings.Contains(log, "no other member to ask") {
		t.Errorf("the wait after asking the only member should say no other member is left to ask:\n%s", log)
	}
}
