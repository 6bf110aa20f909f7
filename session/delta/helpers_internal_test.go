package delta

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
)

// newCluster is NewCluster of cfg with ch as its Channel; an error ends the test.
func newCluster(t testing.TB, ch Channel, cfg ClusterConfig) *Cluster {
	t.Helper()
	cfg.Channel = ch
	cl, err := NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// startLone starts, on a channel of a new network, a cluster and a manager named
// localhost#/app that does not wait for members (MemberWait -1), with cfg's other
// settings; the cluster closes when the test ends. The network is returned for the
// channels the test adds to it.
func startLone(t *testing.T, cfg Config) (*channeltest.Network, *Manager) {
	t.Helper()
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	_, ch := nw.StartChannel(t)
	cl := newCluster(t, ch, ClusterConfig{})
	t.Cleanup(func() { _ = cl.Close(ctx) })
	cfg.Name, cfg.MemberWait = "localhost#/app", -1
	m, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return nw, m
}

// CreateReplicated makes a session on m with the attributes kv (name, value, ...) set,
// and replicates it. Exported for the package's external tests too.
func CreateReplicated(t testing.TB, m *Manager, kv ...any) *Session {
	t.Helper()
	ctx := context.Background()
	s, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if err := s.Set(kv[i].(string), kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}
