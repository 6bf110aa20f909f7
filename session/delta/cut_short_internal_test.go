package delta

import (
	"context"
	"errors"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
)

// A change sent to fewer members than the view the probes know of is not acknowledged
// (docs/consistency.md, partitions of some links): a member left, and the cluster has
// not started probing it yet (the channel lists the smaller view before it tells its
// listeners), so the send went to the members left while the view the probes go by
// still holds it. judge refuses it with errProbing (ErrNoQuorum) though it reached the
// quorum, and acknowledges a change sent to the whole view.
func TestChangeSentToFewerThanTheProbesViewNotAcknowledged(t *testing.T) {
	_, ch := channeltest.NewNetwork().StartChannel(t)
	cl := newCluster(t, ch, ClusterConfig{Codec: BinaryCodec{}})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	m, err := cl.NewManager(Config{Name: "localhost#/app", MemberWait: -1, ClusterSize: 3, Replication: ReplicateAcked})
	if err != nil {
		t.Fatal(err)
	}
	if m.quorum != 1 {
		t.Fatalf("quorum %d, want 1 member besides this node (ClusterSize 3)", m.quorum)
	}
	cl.cuts.on.Store(true)    // a manager needs a quorum, and BinaryCodec sends probes
	cl.cuts.viewSize.Store(2) // the view the probes know of: two members
	if err := m.judge(2, nil); err != nil {
		t.Errorf("a change sent to the whole view: %v, want it acknowledged", err)
	}
	err = m.judge(1, nil) // the quorum, but one member short of that view
	if !errors.Is(err, errProbing) || !errors.Is(err, ErrNoQuorum) {
		t.Errorf("a change sent to 1 member of a view of 2: %v, want errProbing (ErrNoQuorum)", err)
	}
	cl.cuts.on.Store(false) // no probes (JavaCodec, or no quorum needed): the count alone
	if err := m.judge(1, nil); err != nil {
		t.Errorf("without probes, a change sent to the quorum: %v, want it acknowledged", err)
	}
}
