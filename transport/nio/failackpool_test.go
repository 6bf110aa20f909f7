package nio

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
)

// A FAIL_ACK leaves its connection healthy, so put returns it to the idle list, and the
// retry then dials a fresh one (attempts asks get for fresh): every send answered with
// FAIL_ACK leaves one more idle connection behind. Config.PoolSize promises "the maximum
// number of connections to one member", and docs/operations.md sizes ulimit and the
// receiver's MaxConnections from it; with PoolSize 1 the connections must stay at 1.
func TestFailAckRetriesKeepThePoolWithinPoolSize(t *testing.T) {
	rec := newRecorder(64)
	rec.setErr(func(*channel.Message) error { return errors.New("application refuses") })
	b := startNode(t, testConfig(), rec.rx)
	cfg := testConfig()
	cfg.PoolSize = 1 // MaxRetryAttempts 1 (Tomcat's default)
	a := startNode(t, cfg, nil)

	const sends = 5
	for i := range sends {
		err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck|channel.OptSyncAck, seqPayload(i)))
		if !errors.Is(err, channel.ErrAckFailed) {
			t.Fatalf("send %d: err = %v, want ErrAckFailed", i, err)
		}
		rec.next(t)
		rec.next(t) // the retry
	}
	if st := a.t.Stats(); st.ConnsPooled > int64(cfg.PoolSize) {
		t.Fatalf("after %d FAIL_ACKed sends to one member with PoolSize %d, %d outbound connections are open (%d dialled): the pool grows without bound",
			sends, cfg.PoolSize, st.ConnsPooled, st.Dials)
	}
}
