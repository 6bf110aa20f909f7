package replmap_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/rpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...) }

type node struct {
	ch *channel.Channel
	tn *channeltest.Node
	m  *replmap.Map
}

// newChannel starts a channel on nw (no heartbeat goroutine: tests call Heartbeat), with
// extra interceptors above the message dispatch.
func newChannel(t testing.TB, nw *channeltest.Network, extra ...channel.Interceptor) *node {
	t.Helper()
	d, err := interceptors.NewMessageDispatch(interceptors.DispatchConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(),
		Interceptors: append(extra, d), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	return &node{ch: ch, tn: tn}
}

// newMap creates the map "test-map" on n, unstarted; it is stopped at cleanup. A map
// answers the others' messages from New on, so the nodes of a test create their maps
// first: a node without any rpc channel would not answer a Start's MSG_INIT at all.
func newMap(t testing.TB, n *node, cfg replmap.Config) {
	t.Helper()
	cfg.Channel, cfg.Name = n.ch, "test-map"
	m, err := replmap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	n.m = m
}

func start(t testing.TB, n *node) {
	t.Helper()
	if err := n.m.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// cluster starts n channels, waits until they see each other, then starts the map on
// each, one after the other.
func cluster(t testing.TB, nw *channeltest.Network, n int) []*node {
	t.Helper()
	return clusterConfig(t, nw, n, replmap.Config{})
}

func clusterConfig(t testing.TB, nw *channeltest.Network, n int, cfg replmap.Config) []*node {
	t.Helper()
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = newChannel(t, nw)
	}
	for _, nd := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(nd.ch.Members()) == n-1 })
	}
	for _, nd := range nodes {
		newMap(t, nd, cfg)
	}
	for _, nd := range nodes {
		start(t, nd)
	}
	waitMapMembers(t, nodes, n-1)
	return nodes
}

// twoMaps starts two channels on nw, a with the interceptors aExtra, waits until they see
// each other, then makes and starts the map on a with aCfg and on b with bCfg, and waits
// until each map lists the other.
func twoMaps(t *testing.T, nw *channeltest.Network, aCfg, bCfg replmap.Config, aExtra ...channel.Interceptor) (a, b *node) {
	t.Helper()
	a, b = newChannel(t, nw, aExtra...), newChannel(t, nw)
	for _, n := range []*node{a, b} {
		waitChannelMembers(t, n, 1)
	}
	newMap(t, a, aCfg)
	newMap(t, b, bCfg)
	start(t, a)
	start(t, b)
	waitMapMembers(t, []*node{a, b}, 1)
	return a, b
}

func waitMapMembers(t testing.TB, nodes []*node, want int) {
	t.Helper()
	for _, nd := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("%d map members", want),
			func() bool { return len(nd.m.Members()) == want })
	}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	t.Cleanup(cancel)
	return c
}

func get(t *testing.T, n *node, key any) any {
	t.Helper()
	v, ok, err := n.m.Get(ctx(t), key)
	if err != nil || !ok {
		t.Fatalf("get %v: ok=%v err=%v", key, ok, err)
	}
	return v
}

// holders returns how many nodes hold a value of key (primary or backup): Len counts them.
func lens(nodes []*node) (n int) {
	for _, nd := range nodes {
		n += nd.m.Len()
	}
	return n
}

// A put on one node is backed up on exactly one other node; every node can get it, the
// proxies by asking the backup.
func TestPutGet(t *testing.T) {
	nodes := cluster(t, channeltest.NewNetwork(), 3)
	if _, err := nodes[0].m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if got := lens(nodes); got != 2 {
		t.Fatalf("%d copies of the value, want 2 (primary and backup)", got)
	}
	for i, nd := range nodes {
		if got := get(t, nd, "k"); got != "v" {
			t.Fatalf("node %d: get = %#v", i, got)
		}
		if keys := nd.m.Keys(); len(keys) != 1 || keys[0] != "k" {
			t.Fatalf("node %d keys %v", i, keys)
		}
	}
	if _, ok, err := nodes[1].m.Get(ctx(t), "missing"); ok || err != nil {
		t.Fatalf("missing key: ok=%v err=%v", ok, err)
	}
	// Values: numbers, byte slices, lists.
	for i, v := range []any{int32(7), []byte{1, 2}, []any{"a", int64(3)}} {
		if _, err := nodes[i].m.Put(ctx(t), int32(i), v); err != nil {
			t.Fatal(err)
		}
		got := get(t, nodes[(i+1)%3], int32(i))
		if fmt.Sprint(got) != fmt.Sprint(v) {
			t.Fatalf("value %d: %#v, want %#v", i, got, v)
		}
	}
}

// A proxy's get makes the local node the primary: a later get there needs no backup.
func TestProxyGetBecomesPrimary(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	if _, err := nodes[0].m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	proxy := -1
	for i := 1; i < 3; i++ {
		if nodes[i].m.Len() == 0 {
			proxy = i
		}
	}
	if proxy < 0 {
		t.Fatal("no proxy node")
	}
	if got := get(t, nodes[proxy], "k"); got != "v" {
		t.Fatalf("proxy get = %#v", got)
	}
	if nodes[proxy].m.Len() != 1 {
		t.Fatal("the proxy did not keep the value")
	}
	// Primary now: the value is served even with the other nodes out of reach.
	nw.Partition(nodes[proxy].tn, nodes[0].tn)
	nw.Partition(nodes[proxy].tn, nodes[3-proxy].tn)
	if got := get(t, nodes[proxy], "k"); got != "v" {
		t.Fatalf("get as primary = %#v", got)
	}
}

// Remove deletes the key on every node.
func TestRemove(t *testing.T) {
	nodes := cluster(t, channeltest.NewNetwork(), 3)
	if _, err := nodes[1].m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	old, err := nodes[1].m.Remove(ctx(t), "k")
	if err != nil || old != "v" {
		t.Fatalf("remove = %#v, %v", old, err)
	}
	for i, nd := range nodes {
		if _, ok, err := nd.m.Get(ctx(t), "k"); ok || err != nil || len(nd.m.Keys()) != 0 {
			t.Fatalf("node %d still has the key (err %v)", i, err)
		}
	}
}

// When the primary leaves, its backup takes over and picks a new backup; the value is
// still there for everyone.
func TestPrimaryLeaves(t *testing.T) {
	nodes := cluster(t, channeltest.NewNetwork(), 3)
	if _, err := nodes[0].m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	rest := nodes[1:]
	waitMapMembers(t, rest, 1)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "value on both survivors", func() bool { return lens(rest) == 2 })
	for i, nd := range rest {
		if got := get(t, nd, "k"); got != "v" {
			t.Fatalf("survivor %d: %#v", i, got)
		}
	}
}

// A node that starts the map later gets every key by state transfer (as proxies) and can
// get the values.
func TestStateTransfer(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	for i := range 5 {
		if _, err := nodes[i%2].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	joiner := newChannel(t, nw)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(joiner.ch.Members()) == 2 })
	newMap(t, joiner, replmap.Config{})
	start(t, joiner)
	if got := len(joiner.m.Keys()); got != 5 {
		t.Fatalf("joiner knows %d keys, want 5", got)
	}
	waitMapMembers(t, append(nodes, joiner), 2)
	for i := range 5 {
		if got := get(t, joiner, fmt.Sprint("k", i)); got != int32(i) {
			t.Fatalf("k%d = %#v", i, got)
		}
	}
}

// A map member whose pings do not say INITIALIZED (nor STATETRANSFERRED, a map still
// starting) is dropped at a heartbeat once it has been silent for AccessTimeout; one that
// answers stays.
func TestPingDropsSilentMember(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := []*node{newChannel(t, nw), newChannel(t, nw)}
	for _, nd := range nodes {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(nd.ch.Members()) == 1 })
		newMap(t, nd, replmap.Config{AccessTimeout: 500 * time.Millisecond})
	}
	for _, nd := range nodes {
		start(t, nd)
	}
	waitMapMembers(t, nodes, 1)
	nodes[0].ch.Heartbeat()
	nodes[0].ch.Heartbeat()
	if len(nodes[0].m.Members()) != 1 {
		t.Fatal("an answering member was dropped")
	}
	replmap.SetState(nodes[1].m, "STATETRANSFERRED")
	nodes[0].ch.Heartbeat()
	nodes[0].ch.Heartbeat()
	if len(nodes[0].m.Members()) != 1 {
		t.Fatal("a starting member was dropped")
	}
	replmap.SetState(nodes[1].m, "DESTROYED")
	testutil.EventuallyTrue(t, testutil.WaitLimit, "silent member dropped", func() bool {
		nodes[0].ch.Heartbeat()
		return len(nodes[0].m.Members()) == 0
	})
}

func TestConfigErrors(t *testing.T) {
	nw := channeltest.NewNetwork()
	n := newChannel(t, nw)
	for _, cfg := range []replmap.Config{{Name: "x"}, {Channel: n.ch}, {Channel: n.ch, Name: "日本"},
		{Channel: n.ch, Name: "x", RPCTimeout: -1}} {
		if _, err := replmap.New(cfg); !errors.Is(err, replmap.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	m, err := replmap.New(replmap.Config{Channel: n.ch, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Put(ctx(t), "k", "v"); !errors.Is(err, replmap.ErrNotStarted) {
		t.Errorf("put before start: %v", err)
	}
	if _, err := replmap.New(replmap.Config{Channel: n.ch, Name: "x"}); !errors.Is(err, rpc.ErrDuplicateID) {
		t.Errorf("second map named x: %v", err)
	}
	unstarted, err := replmap.New(replmap.Config{Channel: n.ch, Name: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if err := unstarted.Stop(ctx(t)); err != nil {
		t.Errorf("stop without start: %v", err)
	}
	if _, err := m.Put(ctx(t), struct{}{}, "v"); !errors.Is(err, replmap.ErrType) {
		t.Errorf("put of a struct key: %v", err)
	}
	if err := m.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx(t)); !errors.Is(err, replmap.ErrStarted) {
		t.Errorf("start after stop: %v", err)
	}
	if _, err := m.Remove(ctx(t), "k"); !errors.Is(err, replmap.ErrNotStarted) {
		t.Errorf("remove after stop: %v", err)
	}
}

// A proxy whose backup is out of reach cannot get the value: ErrUnavailable.
func TestProxyGetUnavailable(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 3)
	if _, err := nodes[0].m.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	backup, proxy := nodes[1], nodes[2]
	if proxy.m.Len() != 0 {
		backup, proxy = proxy, backup
	}
	nw.Partition(proxy.tn, backup.tn)
	if _, _, err := proxy.m.Get(ctx(t), "k"); !errors.Is(err, replmap.ErrUnavailable) {
		t.Fatalf("get with the backup out of reach: %v", err)
	}
}
