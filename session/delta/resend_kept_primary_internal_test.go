package delta

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestSweepSendsNothingOnceKeptChangesAreReplaced: a's lost change x=a is kept by a
// repair's load and its send fails; b's request then changes x (b serves the session:
// its primary), which reaches a and replaces x=a, a's pending change dropped. a's sweep
// has nothing of its own to send: it must send nothing, b staying the primary and a a
// copy. (The sweep replicated the session all the same: with nothing pending it sent an
// EVT_SESSION_ACCESSED, which made a the primary of a session no request came to and b
// a copy, every member's access time reset by no request.)
func TestSweepSendsNothingOnceKeptChangesAreReplaced(t *testing.T) {
	for _, mode := range []ReplicationMode{ReplicateAsync, ReplicateAcked} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
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
			a.resendKept(ctx) // fails
			fa.fail.Store(false)
			sb := b.Find(s.ID())
			for _, kv := range [][2]string{{"y", "b"}, {"x", "b"}} { // x at b's version 3
				if err := sb.Set(kv[0], kv[1]); err != nil {
					t.Fatal(err)
				}
				if err := b.Replicate(ctx, sb); err != nil {
					t.Fatal(err)
				}
			}
			b.async.drainIfAny()
			want := sb.valueOf("x")
			testutil.EventuallyTrue(t, 10*time.Second, "a holds b's later x=b", func() bool {
				return bytes.Equal(s.valueOf("x"), want)
			})
			sent := a.Stats().BytesSent
			a.ProcessExpires(ctx)
			a.async.drainIfAny()
			if got := a.Stats().BytesSent; got != sent {
				t.Errorf("a's sweep sent %d bytes, want none", got-sent)
			}
			if primary(s) || !primary(sb) {
				t.Errorf("after a's sweep a is primary %v, b %v; want b alone", primary(s), primary(sb))
			}
			if !bytes.Equal(sb.valueOf("x"), want) {
				t.Errorf("b holds x=%q, want %q", sb.valueOf("x"), want)
			}
		})
	}
}

// primary reports whether this node's copy of s is the session's primary.
func primary(s *Session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.primary
}
