package delta_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// Nodes whose clusters use different codecs share no session: neither accepts the other's
// messages (Cluster.Accept takes only its own codec's), so an acknowledged replication to
// the other node fails with FAIL_ACK (the channel's "no listener accepted the message"),
// and a joiner starts without the other node's sessions. A switch of codec (BinaryCodec to JavaCodec, to add Tomcat
// nodes) therefore cannot be made one node at a time (docs/tomcat.md).
func TestMixedCodecsShareNothing(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, chA := newChannel(t, nw)
	a := startJoiner(t, chA, delta.ClusterConfig{}, delta.Config{MemberWait: -1, Replication: delta.ReplicateAcked})
	_, chB := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "members", func() bool { return len(chB.Members()) == 1 })
	ctx := context.Background()
	s, err := a.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	b := startJoiner(t, chB, delta.ClusterConfig{Codec: delta.JavaCodec{}},
		delta.Config{Codec: delta.JavaValueCodec{}, Replication: delta.ReplicateAcked})
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Find(s.ID()) != nil {
		t.Fatal("the JavaCodec joiner got a session of the BinaryCodec node")
	}
	if err := a.Replicate(ctx, s); !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("acknowledged replication to a node of the other codec: %v, want FAIL_ACK", err)
	}
	bs, err := b.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.Set("k", "w"); err != nil {
		t.Fatal(err)
	}
	if err := b.Replicate(ctx, bs); !errors.Is(err, channel.ErrAckFailed) {
		t.Fatalf("acknowledged replication from the JavaCodec node: %v, want FAIL_ACK", err)
	}
	if b.Find(s.ID()) != nil || a.Find(bs.ID()) != nil {
		t.Fatal("a session crossed between the codecs")
	}
}
