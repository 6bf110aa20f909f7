package staticsvc

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestNewServiceTakesOverAStoppedOnesDeclineResponder: a stopped Service leaves a
// responder declining its rpc id for stopMemory (10 s), so that a member checking its STOP
// learns at once that it stopped. A second Service started on the same channel with the
// same id within that time failed with rpc.ErrDuplicateID. It now closes the stopped
// one's responder and takes the id: its Start succeeds, its START lists B, B lists A again,
// and the stopped Service no longer holds a responder.
func TestNewServiceTakesOverAStoppedOnesDeclineResponder(t *testing.T) {
	ctx := context.Background()
	p := testutil.FreePorts(t, 2)
	cfg := Config{ExpirationTime: time.Hour, PingInterval: time.Hour}
	a, b, svcA := staticPair(t, p, cfg)
	if err := a.Stop(ctx, channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "B drops A after its STOP", func() bool {
		_, ok := b.Member(a.LocalMember().Key())
		return !ok
	})
	svcA.mu.Lock()
	declining := svcA.declining != nil
	svcA.mu.Unlock()
	if !declining {
		t.Fatal("the stopped Service left no decline responder")
	}

	cfg.Members = svcA.cfg.Members
	svc2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc2.SetChannel(a)
	ev := &recorder{}
	if err := svc2.Start(ctx, channel.SvcMembership, a.LocalMember(), ev); err != nil {
		t.Fatalf("a second Service on the channel within 10 s of the first one's stop: %v", err)
	}
	t.Cleanup(func() { _ = svc2.Stop(context.Background(), channel.SvcMembership) })
	if _, ok := svc2.Member(b.LocalMember().Key()); !ok {
		t.Errorf("the second Service does not list B after its START: %v", svc2.Members())
	}
	if _, ok := b.Member(a.LocalMember().Key()); !ok {
		t.Errorf("B does not list A after the second Service's START: %v", b.Members())
	}
	svcA.mu.Lock()
	declining = svcA.declining != nil
	svcA.mu.Unlock()
	if declining {
		t.Error("the stopped Service still holds its decline responder")
	}
}

// recorder is a membership listener that keeps nothing (the Service's view is checked).
type recorder struct{}

func (*recorder) MemberAdded(channel.Member)       {}
func (*recorder) MemberDisappeared(channel.Member) {}
