package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// failingChannel fails every send while fail is set.
type failingChannel struct {
	*channel.Channel
	fail atomic.Bool
}

func (f *failingChannel) Send(ctx context.Context, to []channel.Member, data []byte, opts channel.SendOptions) error {
	if f.fail.Load() {
		return errors.New("test: send failed")
	}
	return f.Channel.Send(ctx, to, data, opts)
}

// startOn starts a cluster on ch and a manager named localhost#/app with cfg (no sweep of
// its own), ready; the cluster closes when the test ends.
func startOn(t *testing.T, ch Channel, cfg Config) *Manager {
	t.Helper()
	ctx := context.Background()
	cl := newCluster(t, ch, ClusterConfig{})
	t.Cleanup(func() { _ = cl.Close(ctx) })
	cfg.Name, cfg.MemberWait, cfg.ExpireInterval = "localhost#/app", -1, -1
	m, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSweepResendsKeptChangesItCouldNotSend: a's delta setting x=a was taken and lost
// (b holds x=start); a repair's load of b's copy over a's keeps x=a, and a's send of it
// right after fails. The sweep must send it again (b then holds x=a), in both modes;
// but when b changes x after the load (x=b, which reaches a before a's send), the later
// change wins: a takes it and sends x=a no more (both hold x=b). Marked as changed here,
// as a request's change, x=a made a skip x=b and then won over it everywhere.
func TestSweepResendsKeptChangesItCouldNotSend(t *testing.T) {
	for _, c := range []struct {
		mode  ReplicationMode
		later bool
	}{{ReplicateAsync, false}, {ReplicateAcked, false}, {ReplicateAsync, true}, {ReplicateAcked, true}} {
		mode := c.mode
		t.Run(fmt.Sprintf("%v/later=%v", mode, c.later), func(t *testing.T) {
			ctx := context.Background()
			nw := channeltest.NewNetwork()
			_, cha := nw.StartChannel(t)
			fa := &failingChannel{Channel: cha}
			a := startOn(t, fa, Config{JvmRoute: "a", Replication: mode})
			_, chb := nw.StartChannel(t)
			b := startOn(t, chb, Config{JvmRoute: "b", Replication: mode})
			if err := cha.WaitForMembers(ctx, 1); err != nil {
				t.Fatal(err)
			}
			s := CreateReplicated(t, a, "x", "start")
			a.async.drainIfAny()
			var st SessionState
			testutil.EventuallyTrue(t, 10*time.Second, "b holds x=start", func() bool {
				sb := b.Find(s.ID())
				if sb == nil {
					return false
				}
				var nv []NamedValue
				var ok bool
				st, ok = sb.transferable(&nv, &[]tomb{}, 0)
				return ok && len(st.Attributes) == 1
			})
			if err := s.Set("x", "a"); err != nil {
				t.Fatal(err)
			}
			if msg, _ := s.takeDelta(nowMs(), true); msg == nil { // sent, and lost
				t.Fatal("no delta")
			}
			fa.fail.Store(true)
			s.loadTransferred(&st)
			want, before := s.valueOf("x"), st.Attributes[0].Value
			if c.later {
				sb := b.Find(s.ID())
				for _, kv := range [][2]string{{"y", "b"}, {"x", "b"}} { // x at b's version 3
					if err := sb.Set(kv[0], kv[1]); err != nil {
						t.Fatal(err)
					}
					if err := b.Replicate(ctx, sb); err != nil {
						t.Fatal(err)
					}
				}
				want, before = sb.valueOf("x"), sb.valueOf("x")
				testutil.EventuallyTrue(t, 10*time.Second, "a holds b's later x=b", func() bool {
					return bytes.Equal(s.valueOf("x"), want)
				})
			}
			a.resendKept(ctx) // fails
			fa.fail.Store(false)
			if got := b.Find(s.ID()).valueOf("x"); !bytes.Equal(got, before) {
				t.Fatalf("b holds x=%q before the sweep, want %q (a's send failed)", got, before)
			}
			a.ProcessExpires(ctx)
			a.async.drainIfAny()
			testutil.EventuallyTrue(t, 10*time.Second, "a and b hold the same x after a's sweep", func() bool {
				return bytes.Equal(b.Find(s.ID()).valueOf("x"), want) && bytes.Equal(s.valueOf("x"), want)
			})
		})
	}
}

// valueOf returns attribute name's encoding, nil if absent.
func (s *Session) valueOf(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.find(name); i >= 0 {
		return s.attrs[i].data
	}
	return nil
}

// drainIfAny waits until q, if any, sent everything queued.
func (q *asyncQueue) drainIfAny() {
	if q != nil {
		q.drain()
	}
}
