package delta

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// takenByNone: a send that no member took (each could not be connected to or, with
// refusals, answered FAIL_ACK) is one nobody else holds; a member whose attempt wrote the
// message and lost its connection, or whose ACK did not come, or one that got it, may
// hold it; and without refusals (JavaCodec: a Tomcat member may answer FAIL_ACK after
// applying) a FAIL_ACK may be one that took it.
func TestTakenByNone(t *testing.T) {
	a := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4000}
	b := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4001}
	failAck := fmt.Errorf("%w: refused", channel.ErrAckFailed)
	connect := fmt.Errorf("%w: refused", channel.ErrConnect)
	lostThenFailAck := fmt.Errorf("%w after an earlier attempt sent it: %w", channel.ErrConnectionLost, failAck)
	timeout := fmt.Errorf("%w: 15s", channel.ErrAckTimeout)
	send := func(errs ...error) error {
		se := &channel.SendError{}
		for i, err := range errs {
			se.Faulty = append(se.Faulty, channel.FaultyMember{Member: []channel.Member{a, b}[i], Err: err})
		}
		return se
	}
	for _, c := range []struct {
		name     string
		err      error
		refusals bool
		want     bool
	}{
		{"FAIL_ACK from both", send(failAck, failAck), true, true},
		{"FAIL_ACK and a connect failure", send(failAck, connect), true, true},
		{"connect failures, no refusals", send(connect, connect), false, true},
		{"FAIL_ACK from one, the other acknowledged", send(failAck), true, false},
		{"FAIL_ACK after a lost connection", send(failAck, lostThenFailAck), true, false},
		{"FAIL_ACK and an ack timeout", send(failAck, timeout), true, false},
		{"FAIL_ACK from both, JavaCodec", send(failAck, failAck), false, false},
		{"an error naming no member", errors.New("codec"), true, false},
	} {
		if got := takenByNone(2, c.err, c.refusals); got != c.want {
			t.Errorf("%s: takenByNone = %v, want %v", c.name, got, c.want)
		}
	}
}
