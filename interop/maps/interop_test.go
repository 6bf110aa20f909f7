package mapsinterop_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.IgnoreGnetPool()...)
}

const mapName = "interop-map"

// sendOptions are BackupManager's mapSendOptions (USE_ACK|SYNC_ACK): a put or get
// returns once the others processed its messages, so the test sees no reordering
// between the messages of different senders.
const sendOptions = channel.OptUseAck | channel.OptSyncAck

// id returns a fixed unique id for node number n.
func id(n int) channel.UniqueID {
	var u channel.UniqueID
	u[15] = byte(0xc0 + n)
	return u
}

func member(port, n int) channel.Member {
	return channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(port), UniqueID: id(n)}
}

// setup varies the cluster of a test.
type setup struct {
	replicated bool
	// idle Go nodes join the channel but run no map: they can join it later.
	idle int
	// accessTimeout is the maps' AccessTimeout, Go and Java (0: the default).
	accessTimeout time.Duration
	// expiration is the static membership's ExpirationTime, Go and Java (0: the default).
	expiration time.Duration
	// values is the Go maps' Config.Values.
	values replmap.ValueCodec
	// idleMaxFrame is the idle Go nodes' nio.Config.MaxFrameSize (0: the default).
	idleMaxFrame int
}

// testCluster is two Go nodes running the map, a Java node running it, and the idle Go
// nodes after them in gos.
type testCluster struct {
	j     *javapeer.Peer
	maps  []*replmap.Map     // on gos[0] and gos[1]
	gos   []*channel.Channel // 2 + setup.idle
	gates []*gate            // gates[i] is on gos[i]
	java  channel.Member     // the Java node
	s     setup
}

// gate is an interceptor that, while only is set, passes up only the messages from
// that member (the others are dropped, and acknowledged), and, while dropMapSends is
// set, drops the map messages its node sends (reporting them sent).
type gate struct {
	channel.InterceptorBase
	only         atomic.Pointer[channel.MemberKey]
	dropMapSends atomic.Bool
	droppedSends atomic.Int32
	// hold, when set, holds the first map message its node sends to hold.to alone.
	hold atomic.Pointer[holdSend]
}

// holdSend is a gate's hold: the message is held, once held is closed, until release is.
type holdSend struct {
	to            channel.MemberKey
	held, release chan struct{}
}

// mapMessageClass is in every serialized MapMessage (a plain map message's stream).
var mapMessageClass = []byte("AbstractReplicatedMap$MapMessage")

func (g *gate) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if g.dropMapSends.Load() && bytes.Contains(msg.Data, mapMessageClass) {
		g.droppedSends.Add(1)
		return nil
	}
	if h := g.hold.Load(); h != nil && len(to) == 1 && to[0].Key() == h.to && bytes.Contains(msg.Data, mapMessageClass) &&
		g.hold.CompareAndSwap(h, nil) {
		close(h.held)
		<-h.release
	}
	return g.InterceptorBase.SendMessage(ctx, to, msg)
}

func (g *gate) MessageReceived(msg *channel.Message) error {
	if k := g.only.Load(); k != nil && msg.Source.Key() != *k {
		return nil
	}
	return g.Prev().MessageReceived(msg)
}

// startGo starts a Go channel on port with StaticMembershipService listing others.
func startGo(t *testing.T, port, n int, others []channel.Member, s setup) (*channel.Channel, *gate) {
	t.Helper()
	cfg := nio.DefaultConfig()
	cfg.Port, cfg.AutoBind = port, 1
	if n > 2 && s.idleMaxFrame > 0 { // an idle node (the Java node is number 2)
		cfg.MaxFrameSize = s.idleMaxFrame
	}
	g := &gate{}
	ch, err := node.New(node.Config{Transport: &cfg, UniqueID: id(n), StaticMembers: others,
		StaticProtocol: &staticsvc.Config{ExpirationTime: s.expiration}, Above: []channel.Interceptor{g}})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	return ch, g
}

// newMap creates the map on ch, unstarted; it is stopped at cleanup.
func newMap(t *testing.T, ch *channel.Channel, s setup) *replmap.Map {
	t.Helper()
	m, err := replmap.New(replmap.Config{Channel: ch, Name: mapName, Replicated: s.replicated,
		SendOptions: sendOptions, AccessTimeout: s.accessTimeout, Values: s.values})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return m
}

func startMap(t *testing.T, m *replmap.Map) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.WaitLimit)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

// cluster starts two Go nodes, a Java node and s.idle Go nodes with
// StaticMembershipService, waits until they list each other, then starts the map on the
// first two Go nodes, puts an entry, starts the map on Java, checks that Java got the
// entry by state transfer, removes it again, and waits until every map lists the two
// others.
func cluster(t *testing.T, s setup) *testCluster {
	t.Helper()
	javapeer.Skip(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ports := testutil.FreePorts(t, 3+s.idle) // Go 0, Go 1, Java, idle Go nodes
	all := make([]channel.Member, len(ports))
	for i, p := range ports {
		all[i] = member(p, i)
	}
	var javaList []string
	for i, m := range all {
		if i != 2 {
			javaList = append(javaList, wire.FormatMemberText(m))
		}
	}
	javaUID := id(2)
	javaID := hex.EncodeToString(javaUID[:])
	c := &testCluster{s: s, java: all[2]}
	args := []string{"--port", strconv.Itoa(ports[2]), "--autobind", "1", "--id", javaID,
		"--static-membership", strings.Join(javaList, ","), "--channel-name", staticsvc.DefaultChannelName}
	if s.expiration > 0 {
		args = append(args, "--expiration-time", strconv.FormatInt(s.expiration.Milliseconds(), 10))
	}
	c.j = javapeer.Start(t, args...)
	for i := range all {
		if i == 2 {
			continue
		}
		others := append(slices.Clone(all[:i]), all[i+1:]...)
		ch, g := startGo(t, ports[i], i, others, s)
		c.gos, c.gates = append(c.gos, ch), append(c.gates, g)
	}
	for _, ch := range c.gos {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "Go lists every other node", func() bool { return len(ch.Members()) == len(all)-1 })
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "Java lists every Go node", func() bool {
		ms, err := c.j.Members(ctx)
		return err == nil && len(ms) == len(all)-1
	})

	c.maps = []*replmap.Map{newMap(t, c.gos[0], s), newMap(t, c.gos[1], s)}
	for _, m := range c.maps {
		startMap(t, m)
	}
	// An entry from before Java joins reaches it by state transfer.
	if _, err := c.maps[0].Put(ctx, "early", "before-java"); err != nil {
		t.Fatal(err)
	}
	if err := c.j.MapStart(ctx, mapName, 5*time.Second, s.replicated, int(sendOptions)); err != nil {
		t.Fatal(err)
	}
	if s.accessTimeout > 0 {
		if err := c.j.MapSetAccessTimeout(ctx, s.accessTimeout); err != nil {
			t.Fatal(err)
		}
	}
	if v, found, err := c.j.MapGet(ctx, "early"); err != nil || !found || v != "before-java" {
		t.Fatalf("Java get of the entry put before it joined = %q %v %v", v, found, err)
	}
	if _, err := c.maps[0].Remove(ctx, "early"); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.maps {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "Go map members", func() bool { return len(m.Members()) == 2 })
	}
	c.waitJavaMembers(t, 2)
	return c
}

func (c *testCluster) waitJavaMembers(t *testing.T, n int) {
	t.Helper()
	testutil.EventuallyTrue(t, testutil.WaitLimit, fmt.Sprintf("Java has %d map members", n), func() bool {
		info, err := c.j.MapKeys(context.Background())
		return err == nil && info.Members == n
	})
}

// TestLazyMap: two Go nodes and a Java node run a LazyReplicatedMap; the Go nodes put
// entries the Java node gets (from its backup copy or, as a proxy, from the Go backup) and
// the other way round; a Go remove reaches Java.
func TestLazyMap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := cluster(t, setup{})
	j, maps := c.j, c.maps

	// Go puts, Java gets: round-robin makes Java the backup of some keys, a proxy of others.
	const n = 4
	for i := range n {
		if _, err := maps[0].Put(ctx, fmt.Sprint("go", i), fmt.Sprint("from-go-", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The puts' messages were processed, but other senders' are not ordered with the
	// map-keys command: wait.
	var info javapeer.MapInfo
	testutil.EventuallyTrue(t, testutil.WaitLimit, "Java knows every key", func() bool {
		var err error
		info, err = j.MapKeys(ctx)
		return err == nil && len(info.Keys) == n
	})
	t.Logf("Java after the Go puts: %+v", info)
	if info.Size == 0 || info.Size == n {
		t.Fatalf("Java holds %d values of %d keys: backup and proxy paths not both taken", info.Size, n)
	}
	for i := range n {
		v, found, err := j.MapGet(ctx, fmt.Sprint("go", i))
		if err != nil || !found || v != fmt.Sprint("from-go-", i) {
			t.Fatalf("Java get go%d = %q %v %v", i, v, found, err)
		}
	}

	// Java puts, the Go nodes get.
	for i := range n {
		if err := j.MapPut(ctx, fmt.Sprint("java", i), fmt.Sprint("from-java-", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range maps {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "Go knows the Java keys", func() bool { return len(m.Keys()) == 2*n })
	}
	for gi, m := range maps { // the second Go node gets from the first one's new primaries
		for i := range n {
			v, ok, err := m.Get(ctx, fmt.Sprint("java", i))
			if err != nil || !ok || v != fmt.Sprint("from-java-", i) {
				t.Fatalf("Go %d get java%d = %#v %v %v", gi, i, v, ok, err)
			}
		}
	}

	// A Go remove reaches Java.
	if _, err := maps[1].Remove(ctx, "go0"); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "go0 gone at Java", func() bool {
		_, found, err := j.MapGet(ctx, "go0")
		return err == nil && !found
	})
}

// TestReplicatedMap: two Go nodes and a Java node run a ReplicatedMap; every node holds a
// copy of what any of them puts, and gets it.
func TestReplicatedMap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := cluster(t, setup{replicated: true})
	j, maps := c.j, c.maps
	const n = 3
	for i := range n {
		if _, err := maps[i%2].Put(ctx, fmt.Sprint("go", i), fmt.Sprint("from-go-", i)); err != nil {
			t.Fatal(err)
		}
		if err := j.MapPut(ctx, fmt.Sprint("java", i), fmt.Sprint("from-java-", i)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "Java holds every copy", func() bool {
		info, err := j.MapKeys(ctx)
		return err == nil && info.Size == 2*n
	})
	for _, m := range maps {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "Go holds every copy", func() bool { return m.Len() == 2*n })
	}
	for i := range n {
		v, found, err := j.MapGet(ctx, fmt.Sprint("go", i))
		if err != nil || !found || v != fmt.Sprint("from-go-", i) {
			t.Fatalf("Java get go%d = %q %v %v", i, v, found, err)
		}
		for gi, m := range maps {
			v, ok, err := m.Get(ctx, fmt.Sprint("java", i))
			if err != nil || !ok || v != fmt.Sprint("from-java-", i) {
				t.Fatalf("Go %d get java%d = %#v %v %v", gi, i, v, ok, err)
			}
		}
	}
}
