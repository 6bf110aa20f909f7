package replmap_test

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/mapnotes"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

const msgStateCopy = 10 // Java's MSG_STATE_COPY

// holdStateRequest is a joiner's interceptor that holds its MSG_STATE_COPY request (sent
// after its MSG_START reached the members, before the donor takes its snapshot) until
// released.
type holdStateRequest struct {
	channel.InterceptorBase
	held, release chan struct{}
}

func (h *holdStateRequest) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if replmap.RPCRequestType(msg.Data) == msgStateCopy {
		close(h.held)
		<-h.release
	}
	return h.Next().SendMessage(ctx, to, msg)
}

// A diff a replicated map's primary sends a joiner after its MSG_START and before the
// donor's snapshot (queued there, the state applied first) holds changes the snapshot
// holds too: the joiner holds each change once.
func TestReplicatedDiffBeforeSnapshotAppliedOnce(t *testing.T) {
	nw := channeltest.NewNetwork()
	cfg := replmap.Config{Replicated: true, Values: mapnotes.Codec{}, SendOptions: syncAck}
	nodes := clusterConfig(t, nw, 2, cfg)
	v := mapnotes.New("a")
	if _, err := nodes[0].m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	waitItems(t, nodes[1], "k", "a")
	h := &holdStateRequest{held: make(chan struct{}), release: make(chan struct{})}
	j := newChannel(t, nw, h)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(j.ch.Members()) == 2 })
	newMap(t, j, cfg)
	done := make(chan error, 1)
	go func() { done <- j.m.Start(ctx(t)) }()
	select {
	case <-h.held:
	case err := <-done:
		close(h.release)
		t.Fatalf("Start returned %v before the state request", err)
	}
	v.Add("x")
	err := nodes[0].m.Replicate(ctx(t), "k", false) // the diff reaches the joiner, queued
	close(h.release)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitItems(t, nodes[1], "k", "a", "x")
	waitItems(t, j, "k", "a", "x")
}
