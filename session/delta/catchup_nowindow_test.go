package delta_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// gateCatchUps is a delta.Channel that calls pass before each catch-up request
// (EventGetAllSessions asking for the recent sessions) to the member at port to, with its
// number from 1: false fails the request without sending it, with an error wrapping
// channel.ErrConnectionLost.
type gateCatchUps struct {
	*channel.Channel
	to   int32
	n    *atomic.Int32
	pass func(n int32) bool
}

func (c gateCatchUps) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if len(to) == 1 && to[0].Port == c.to {
		m, err := delta.BinaryCodec{}.DecodeMessage(data)
		if err == nil && m.Event == delta.EventGetAllSessions && m.Version&delta.AskRecent != 0 && !c.pass(c.n.Add(1)) {
			return fmt.Errorf("sending to %s: %w", to[0].Addr(), channel.ErrConnectionLost)
		}
	}
	return c.Channel.Send(ctx, to, data, opts)
}

// With CatchUpWindow -1 (no late catch-up), a joiner j's catch-up request that failed
// before j was ready (not by a refusal: the send failed) was left to the late catch-up,
// which does not run: the member was skipped without a word, and j served its session
// without the changes it made while it did not list j. Such a request is now asked
// again every second while the member is listed, until MemberWait is over, as one
// refused is; a member whose requests still fail then is named in a warning with their
// number.
func TestCatchUpWithoutWindowAsksAgainAfterAFailedRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		down bool // every request to a fails, not the first only
	}{
		{"first request fails", false},
		{"every request fails", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				nw := channeltest.NewNetwork()
				d := startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
				var hidden atomic.Pointer[channel.MemberKey]
				a := startLate(t, nw, &hidden)
				s := create(t, a, "k", 1)
				time.Sleep(time.Minute)

				jtn, jch := newChannel(t, nw)
				k := jtn.Member().Key()
				hidden.Store(&k) // a does not list j: its changes go to d only
				var asked, failed atomic.Int32
				held, release := make(chan struct{}), make(chan struct{})
				gc := gateCatchUps{Channel: jch, to: a.tn.Port(), n: &asked, pass: func(n int32) bool {
					if n == 1 { // held until a made its changes, then failed
						held <- struct{}{}
						<-release
					}
					if n == 1 || tc.down {
						failed.Add(1)
						return false
					}
					return true
				}}
				var logs lockedBuffer
				jm := startJoiner(t, gc, delta.ClusterConfig{}, delta.Config{JvmRoute: "j",
					Replication: delta.ReplicateAcked, MemberWait: 3 * time.Second, CatchUpWindow: -1,
					Logger: slog.New(slog.NewTextHandler(&logs, nil))})
				<-held // j's transfer from d is complete, its catch-up asks a
				for k := 2; k <= 3; k++ {
					if err := s.Set("k", k); err != nil {
						t.Fatal(err)
					}
					if err := a.m.Replicate(ctx, s); err != nil {
						t.Fatalf("a's change was not acknowledged: %v", err)
					}
				}
				hidden.Store(nil) // a lists j: the request would reach it, but fails
				close(release)
				if err := jm.WaitReady(ctx); err != nil {
					t.Fatal(err)
				}
				if v, _ := delta.Attr[int](d.m.Find(s.ID()), "k"); v != 3 {
					t.Fatalf("d holds k=%d, want 3", v)
				}
				v, _ := delta.Attr[int](jm.Find(s.ID()), "k")
				addr := a.tn.Member().Addr()
				summary := warnings(logs.String(), "its requests failed until MemberWait was over", addr)
				if !tc.down {
					if n := failed.Load(); n != 1 {
						t.Errorf("%d catch-up requests to a failed, want 1", n)
					}
					if v != 3 {
						t.Errorf("j holds k=%d of a's session, want the acknowledged 3 (a asked again)", v)
					}
					if n := jm.Stats().CatchUps; n != 1 {
						t.Errorf("j caught up with %d members, want 1 (a, asked again)", n)
					}
					if len(summary) != 0 {
						t.Errorf("a warning says a's requests failed:\n%s", strings.Join(summary, ""))
					}
					return
				}
				if n := failed.Load(); n < 2 {
					t.Errorf("%d catch-up requests to a failed, want it asked again until MemberWait is over", n)
				}
				if v != 1 {
					t.Errorf("j holds k=%d of a's session, want 1 (a never reached)", v)
				}
				if len(summary) != 1 || !strings.Contains(summary[0], fmt.Sprintf("failedRequests=%d", failed.Load())) {
					t.Errorf("want one warning naming a with its %d failed requests, got:\n%s", failed.Load(), logs.String())
				}
			})
		})
	}
}
