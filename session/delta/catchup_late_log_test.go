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

// failCatchUps is a delta.Channel whose catch-up requests (EventGetAllSessions asking
// for the recent sessions) to the member at port to fail without going out while down
// is set, with an error wrapping channel.ErrConnectionLost; failed counts them.
type failCatchUps struct {
	*channel.Channel
	to     int32
	down   *atomic.Bool
	failed *atomic.Int32
}

func (c failCatchUps) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if len(to) == 1 && to[0].Port == c.to && c.down.Load() {
		m, err := delta.BinaryCodec{}.DecodeMessage(data)
		if err == nil && m.Event == delta.EventGetAllSessions && m.Version&delta.AskRecent != 0 {
			c.failed.Add(1)
			return fmt.Errorf("sending to %s: %w", to[0].Addr(), channel.ErrConnectionLost)
		}
	}
	return c.Channel.Send(ctx, to, data, opts)
}

// warnings returns the lines of a text log at level WARN that contain all of words.
func warnings(log string, words ...string) []string {
	var out []string
	for line := range strings.Lines(log) {
		if !strings.Contains(line, "level=WARN") {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			out = append(out, line)
		}
	}
	return out
}

// A member the joiner j lists but cannot reach (its catch-up requests fail) is asked
// again every second for the whole CatchUpWindow, and each failure logged a warning: 60
// of them for one member. The first failure of a member is a warning now, the others
// are at debug level, and the window's end names it once in a summary with the number of
// its failed requests.
func TestLateCatchUpLogsAFailingMemberOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
		a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
		var logs lockedBuffer
		var down atomic.Bool
		var failed atomic.Int32
		down.Store(true)
		_, jch := newChannel(t, nw)
		jm := startJoiner(t, failCatchUps{Channel: jch, to: a.tn.Port(), down: &down, failed: &failed},
			delta.ClusterConfig{}, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked,
				MemberWait: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err := jm.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delta.DefaultCatchUpWindow + 5*time.Second)
		synctest.Wait()
		if n := failed.Load(); n < 30 {
			t.Fatalf("%d catch-up requests to a failed, want one about every second of the window", n)
		}
		addr := a.tn.Member().Addr()
		got := logs.String()
		if w := warnings(got, "could not catch up with a member", addr); len(w) != 1 {
			t.Errorf("%d warnings of a failed catch-up request to a, want 1 (the first):\n%s", len(w), strings.Join(w, ""))
		}
		if w := warnings(got, "could not catch up with members", addr); len(w) != 1 {
			t.Errorf("%d summaries name a at the window's end, want 1:\n%s", len(w), got)
		} else if want := fmt.Sprintf("%s:%d", addr, failed.Load()); !strings.Contains(w[0], want) {
			t.Errorf("the summary does not count a's %d failed requests (%s):\n%s", failed.Load(), want, w[0])
		}
	})
}

// The window's end named only the members still listed: one whose catch-up requests
// failed and that then left for good (it was never caught up with) was named only in the
// warning of its first failure, among others' warnings. The summary names it too, with
// the number of its failed requests.
func TestLateCatchUpNamesAFailingMemberThatLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		startReady(t, nw, delta.Config{JvmRoute: "d", Replication: delta.ReplicateAcked})
		a := startReady(t, nw, delta.Config{JvmRoute: "a", Replication: delta.ReplicateAcked})
		var logs lockedBuffer
		var down atomic.Bool
		var failed atomic.Int32
		down.Store(true)
		jtn, jch := newChannel(t, nw)
		jm := startJoiner(t, failCatchUps{Channel: jch, to: a.tn.Port(), down: &down, failed: &failed},
			delta.ClusterConfig{}, delta.Config{JvmRoute: "j", Replication: delta.ReplicateAcked,
				MemberWait: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err := jm.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		nw.Partition(jtn, a.tn) // a leaves j's view for good
		time.Sleep(delta.DefaultCatchUpWindow)
		synctest.Wait()
		n := failed.Load()
		if n < 5 {
			t.Fatalf("%d catch-up requests to a failed, want one about every second until it left", n)
		}
		w := warnings(logs.String(), "could not catch up with members")
		if len(w) != 1 {
			t.Fatalf("%d summaries at the window's end, want 1 naming a:\n%s", len(w), logs.String())
		}
		if want := fmt.Sprintf("%s:%d", a.tn.Member().Addr(), n); !strings.Contains(w[0], want) {
			t.Errorf("the summary does not name a with its %d failed requests (%s):\n%s", n, want, w[0])
		}
	})
}
