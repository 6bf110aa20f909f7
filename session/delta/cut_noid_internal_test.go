package delta

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
)

// A cut confirmed for the zero unique id (a ping naming it, or a probe's result for a
// member listed by address alone, whose record has no id) names no node: it stands this
// node down for nothing, since the zero id is lower than any, and no member has it to be
// checked. It is ignored.
func TestCutByNoIDStandsNothingDown(t *testing.T) {
	_, ch := channeltest.NewNetwork().StartChannel(t)
	cl := newCluster(t, ch, ClusterConfig{Codec: BinaryCodec{}})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	cl.enableCuts()
	if !cl.cuts.on.Load() {
		t.Fatal("cuts not enabled")
	}
	cl.confirmCut(channel.UniqueID{})
	if cl.cuts.outranked.Load() {
		t.Error("a cut by the zero id stood this node down")
	}
	if st := cl.Stats(); st.PartialCuts != 0 {
		t.Errorf("PartialCuts = %d, want 0", st.PartialCuts)
	}
}
