package channel_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// TestFaultyMembersOfNilAllocatesNothing: FaultyMembers of a nil error, what a sender
// judging a successful send (session/delta's acked batches, once each) passes, returns
// nil without allocating; of a wrapped *SendError it still returns its members.
func TestFaultyMembersOfNilAllocatesNothing(t *testing.T) {
	if got := testing.AllocsPerRun(100, func() {
		if channel.FaultyMembers(nil) != nil {
			t.Fatal("FaultyMembers(nil) is not nil")
		}
	}); got != 0 {
		t.Errorf("FaultyMembers(nil) allocates %v times, want 0", got)
	}
	se := &channel.SendError{Faulty: []channel.FaultyMember{{Err: channel.ErrAckTimeout}}}
	if got := channel.FaultyMembers(fmt.Errorf("send: %w", se)); len(got) != 1 || !errors.Is(got[0].Err, channel.ErrAckTimeout) {
		t.Errorf("FaultyMembers of a wrapped *SendError = %v, want its one member", got)
	}
}
