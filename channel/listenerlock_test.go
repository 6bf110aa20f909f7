package channel_test

import (
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// blockedAfter is how long the lifecycle tests wait for a call that returns at once
// unless it is blocked (a deadlock, a wait that ignores its context): long, so that a
// call a loaded machine slowed is not taken for a blocked one; only a failing run waits
// it out.
const blockedAfter = 20 * time.Second

// TestSetPayloadFromMembershipListenerDuringStart: membership/static (like
// channeltest) announces its members from inside Start, so the membership listeners run
// while the coordinator's Start holds the coordinator's lock. SetPayload and SetDomain
// used to take that same lock (coordinator.updateLocal), so a membership listener that
// updated the advertised payload when a member joined deadlocked Start for good; they now
// take only the local member's own lock. The listener here calls SetPayload on another
// goroutine and gives up after a while, so that the test ends if the deadlock comes back.
func TestSetPayloadFromMembershipListenerDuringStart(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := nw.NewNode()
	peer, err := wire.ParseMemberText("127.0.0.1:4999")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := channel.New(channel.Config{Transport: a.Transport(), Membership: static.New(peer), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	blocked := make(chan bool, 1)
	done := make(chan struct{})
	ch.AddMembershipListener(channel.MembershipFuncs{Added: func(channel.Member) {
		go func() {
			if err := ch.SetPayload([]byte("members changed")); err != nil {
				t.Errorf("SetPayload: %v", err)
			}
			close(done)
		}()
		select {
		case <-done:
			blocked <- false
		case <-time.After(blockedAfter):
			blocked <- true
		}
	}})
	channeltest.Start(t, ch)
	<-done // Start returned: the lock is free, SetPayload finishes
	if <-blocked {
		t.Fatal("SetPayload called from a membership listener while Start announces the members did not return " +
			"within 20s: it waits for the coordinator's lock, which Start holds until the listener returns (a deadlock)")
	}
}
