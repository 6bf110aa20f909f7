package delta_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// Two applications on one channel: a session manager, and an app whose listener accepts
// every message (channel.MessageListenerFunc) and fails those that are not its own. The
// session sender, replicating with use_ack+sync_ack, gets no FAIL_ACK from it: the
// isolation rule of channel.MessageListener.
func TestOtherAppsListenerErrorsDoNotFailSessionMessages(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	cfg := delta.Config{Replication: delta.ReplicateAcked, JvmRoute: "a"}
	a := startReady(t, nw, cfg)
	btn, bch := newChannel(t, nw)
	var kv, foreign atomic.Int32
	bch.AddMessageListener(channel.MessageListenerFunc(func(msg *channel.Message) error {
		if !bytes.HasPrefix(msg.Data, []byte("kv:")) {
			foreign.Add(1)
			return errors.New("kv: not a kv message")
		}
		kv.Add(1)
		return nil
	}))
	cfg.JvmRoute = "b"
	b := startManager(t, btn, bch, cfg)
	if err := b.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	s := create(t, a, "user", "ann") // fails the test on a FAIL_ACK
	if b.m.Find(s.ID()) == nil {
		t.Fatal("the session did not reach b")
	}
	if err := a.ch.Send(ctx, []channel.Member{bch.LocalMember()}, []byte("kv:put"), channel.OptUseAck|channel.OptSyncAck); err != nil {
		t.Fatalf("the kv app's own message: %v", err)
	}
	if foreign.Load() == 0 || kv.Load() != 1 {
		t.Fatalf("the kv app saw %d foreign and %d own messages", foreign.Load(), kv.Load())
	}
}

// A node that runs the session cluster for another application only (no manager for the
// joiner's context) answers the joiner's state transfer request at once with
// EVT_ALL_SESSION_NOCONTEXTMANAGER (as Tomcat's ClusterSessionListener does): the joiner
// goes on and starts empty instead of waiting for StateTransferTimeout.
func TestPeerWithoutManagerForContextAnswersAtOnce(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	other := startReady(t, nw, delta.Config{Name: "localhost#/other", JvmRoute: "o"})
	create(t, other, "k", "v")
	j := startNode(t, nw, delta.Config{JvmRoute: "j"})
	if err := j.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	st := j.m.Stats()
	if st.TransferAttempts != 1 || st.SessionsTransferred != 0 || st.TransferDonor != "" {
		t.Fatalf("joiner stats %+v", st)
	}
	_ = other.cl.Close(ctx) // waits for the reply goroutine
	if cs := other.cl.Stats(); cs.NoContextReplies != 1 {
		t.Fatalf("peer cluster stats %+v", cs)
	}
}
