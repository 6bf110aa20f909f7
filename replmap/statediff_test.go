package replmap_test

import (
	"context"
	"sync"
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

// replicateOnEncode is mapnotes.Codec that, once armed, runs a function after its next
// encode of notes: a Replicate that read the entry before the state transfer's marshal
// and takes the value's Diff after it.
type replicateOnEncode struct {
	mapnotes.Codec
	mu    sync.Mutex
	after func()
}

func (c *replicateOnEncode) Encode(v any) (any, error) {
	jv, err := c.Codec.Encode(v)
	c.mu.Lock()
	f := c.after
	c.after = nil
	c.mu.Unlock()
	if _, ok := v.(*mapnotes.Notes); ok && f != nil {
		f()
	}
	return jv, err
}

// The state transfer's copy reads whether a value is dirty only after its marshal
// (stateList): a Replicate that takes the value's Diff right after that marshal leaves
// it clean, and its diff of changes the copy holds reaches the joiner, queued there.
// The joiner holds each change once all the same: the primary sent the value in full
// to it before (its first Replicate after adding the joiner), queued there too, which
// replaces the state's value, the diff applying to it.
func TestStateCopyDiffedAfterMarshalAppliedOnce(t *testing.T) {
	nw := channeltest.NewNetwork()
	codec := &replicateOnEncode{}
	cfg := replmap.Config{Replicated: true, Values: mapnotes.Codec{}, SendOptions: syncAck}
	a := newChannel(t, nw)
	acfg := cfg
	acfg.Values = codec
	newMap(t, a, acfg)
	start(t, a)
	v := mapnotes.New("a")
	if _, err := a.m.Put(ctx(t), "k", v); err != nil {
		t.Fatal(err)
	}
	h := &holdStateRequest{held: make(chan struct{}), release: make(chan struct{})}
	j := newChannel(t, nw, h)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(j.ch.Members()) == 1 })
	newMap(t, j, cfg)
	done := make(chan error, 1)
	go func() { done <- j.m.Start(ctx(t)) }()
	select {
	case <-h.held:
	case err := <-done:
		close(h.release)
		t.Fatalf("Start returned %v before the state request", err)
	}
	err := a.m.Replicate(ctx(t), "k", false) // in full: the joiner was added
	v.Add("x")
	var rerr error
	codec.mu.Lock()
	codec.after = func() { rerr = a.m.Replicate(ctx(t), "k", false) }
	codec.mu.Unlock()
	close(h.release)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	codec.mu.Lock()
	ran := codec.after == nil
	codec.mu.Unlock()
	if !ran || rerr != nil {
		t.Fatalf("the Replicate during the state's marshal: ran %v, %v", ran, rerr)
	}
	waitItems(t, j, "k", "a", "x")
	if err := a.m.Replicate(ctx(t), "k", false); err != nil {
		t.Fatal(err)
	}
	waitItems(t, j, "k", "a", "x")
}
