package nio

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// TestFailAckErrorSaysWhatItMayMean: a synchronized-ack send answered FAIL_ACK said only
// "tribes: member failed to process the message (FAIL_ACK): ADDR answered FAIL_ACK", but
// a channel answers FAIL_ACK also when no listener accepted the message or the sender is
// not its member, the first thing a newcomer who sends to a node without a listener sees;
// the answer carries no reason, so the error now names the three and the receiving
// channel's Stats counters that tell which.
func TestFailAckErrorSaysWhatItMayMean(t *testing.T) {
	rec := newRecorder(4)
	rec.setErr(func(*channel.Message) error { return channel.ErrUnaccepted })
	b := startNode(t, testConfig(), rec.rx)
	cfg := testConfig()
	cfg.MaxRetryAttempts = -1
	a := startNode(t, cfg, nil)
	err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck|channel.OptSyncAck, nil))
	if !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("err = %v, want ErrAckFailed", err)
	}
	for _, want := range []string{"answered FAIL_ACK", "returned an error", "none accepted the message",
		"does not list this one as a member", "ListenerFailures, Unhandled, NonMemberDropped"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("FAIL_ACK error %q does not say %q", err, want)
		}
	}
}
