package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/metrics"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/scsstore"
)

// TestSCSStoreSource: a *scsstore.Store is a Source as it is (its Stats method); a
// session whose bytes its check refuses counts in tribes_scsstore_malformed_total.
func TestSCSStoreSource(t *testing.T) {
	ctx := context.Background()
	_, ch := channeltest.NewNetwork().StartChannel(t)
	cl := newSessionCluster(t, delta.ClusterConfig{Channel: ch})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	m, err := cl.NewManager(delta.Config{Name: "localhost#/app", MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := scsstore.New(scsstore.Config{Manager: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit("tok", []byte("not a gob stream"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, found, err := st.Find("tok"); found || err != nil {
		t.Fatalf("Find of refused bytes: found %v, %v", found, err)
	}
	g := gather(t, newCollector(t, metrics.Config{Sources: []metrics.Source{{Name: "scsstore", Stats: st}}}))
	if got, ok := g.series["tribes_scsstore_malformed_total"]; !ok || got != 1 {
		t.Errorf("tribes_scsstore_malformed_total = %v (present %v), want 1; have %v", got, ok, g.names())
	}
}
