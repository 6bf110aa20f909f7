package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// childEnv marks a tribesdemo process started by cluster for its crash demonstration; test
// binaries use it to run main's command dispatch instead of the tests.
const childEnv = "TRIBESDEMO_CHILD"

type clusterNode struct {
	name    string
	ch      *channel.Channel
	fd      *interceptors.TCPFailureDetector
	got     atomic.Int64
	started time.Time
	shown   sync.Map // channel.MemberKey → true once its join line is printed
}

// clusterDemo holds the shared state of one `tribesdemo cluster` run.
type clusterDemo struct {
	out     io.Writer
	mu      sync.Mutex // serialises output lines
	group   string
	port    int
	drop    time.Duration
	names   map[channel.MemberKey]string
	expect  string // the name the next unknown member gets (the crash demo's child)
	namesMu sync.Mutex
}

func (d *clusterDemo) say(format string, a ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format+"\n", a...)
}

func (d *clusterDemo) name(m channel.Member) string {
	d.namesMu.Lock()
	defer d.namesMu.Unlock()
	if n, ok := d.names[m.Key()]; ok {
		return n
	}
	if d.expect != "" {
		d.names[m.Key()] = d.expect
		return d.expect
	}
	return m.Addr()
}

func (d *clusterDemo) setName(m channel.Member, n string) {
	d.namesMu.Lock()
	defer d.namesMu.Unlock()
	d.names[m.Key()] = n
}

func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("nodes", 3, "number of nodes to start in this process")
	msgs := fs.Int("messages", 200, "messages each ack mode sends")
	size := fs.Int("size", 1024, "message size in bytes")
	drop := fs.Duration("drop-time", 2*time.Second, "multicast drop time: how long a silent member stays (Tomcat dropTime)")
	crash := fs.Bool("crash", true, "also run a node as a child process and kill it with SIGKILL")
	seconds := fs.Float64("seconds", 60, "time limit in seconds (0 = none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tribesdemo cluster [flags]\n\nStarts nodes on 127.0.0.1 in this process with multicast membership on the loopback\ninterface, shows them join, exchanges messages with each ack mode, replicates an HTTP\nsession, kills a node run as a child process and shows it detected, then exits.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *n < 2 || *n > 16:
		return fmt.Errorf("%w: --nodes %d: want 2..16", errUsage, *n)
	case *msgs < 1:
		return fmt.Errorf("%w: --messages %d: want >= 1", errUsage, *msgs)
	case *size < 0:
		return fmt.Errorf("%w: --size %d: want >= 0", errUsage, *size)
	case *drop < 500*time.Millisecond:
		return fmt.Errorf("%w: --drop-time %v: want >= 500ms", errUsage, *drop)
	}
	if err := checkSize(*size, 0); err != nil {
		return err
	}
	limit, err := secondsLimit(*seconds)
	if err != nil {
		return err
	}
	ctx, cancel := withLimit(ctx, limit)
	defer cancel()
	d := &clusterDemo{out: stdout, names: map[channel.MemberKey]string{}, drop: *drop,
		// A group and port of this run's own, so that demos running at once do not meet.
		group: fmt.Sprintf("228.%d.%d.%d", 10+rand.IntN(200), rand.IntN(256), 1+rand.IntN(254)),
		port:  46000 + rand.IntN(4000)}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var nodes []*clusterNode
	defer func() {
		for _, nd := range nodes {
			sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			_ = nd.ch.Stop(sctx, channel.SvcAll)
			c()
		}
	}()

	d.say("== starting %d nodes on 127.0.0.1; membership: multicast %s:%d on the loopback interface", *n, d.group, d.port)
	for i := range *n {
		nd, err := d.startNode(ctx, fmt.Sprintf("node%d", i+1), log)
		if err != nil {
			return err
		}
		nodes = append(nodes, nd)
	}
	want := *n - 1
	if err := waitFor(ctx, 5*time.Second, func() bool {
		for _, nd := range nodes {
			if len(nd.ch.Members()) < want {
				return false
			}
		}
		return true
	}); errors.Is(err, errWaitedOut) {
		return errors.New("the nodes did not see each other within 5 s")
	} else if err != nil {
		return err
	}

	if err := d.ackModes(ctx, nodes, *msgs, *size); err != nil {
		return err
	}
	if err := d.session(ctx, nodes); err != nil {
		return err
	}
	if *crash {
		if err := d.crash(ctx, nodes); err != nil {
			return err
		}
	}

	last := nodes[len(nodes)-1]
	d.say("== %s stops cleanly: its last heartbeat carries Tribes' shutdown command (BABY-ALEX), so the others drop it at once", last.name)
	stopAt := time.Now()
	gone := make(chan time.Duration, 1)
	remove := nodes[0].ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(m channel.Member) {
		if m.Key() == last.ch.LocalMember().Key() {
			select {
			case gone <- time.Since(stopAt):
			default:
			}
		}
	}})
	sctx, c := context.WithTimeout(ctx, 10*time.Second)
	err = last.ch.Stop(sctx, channel.SvcAll)
	c()
	nodes = nodes[:len(nodes)-1]
	if err != nil {
		return err
	}
	select {
	case el := <-gone:
		d.say("   node1 saw %s leave %s after it stopped", last.name, round(el))
	case <-time.After(*drop + 5*time.Second):
		return fmt.Errorf("node1 never saw %s leave", last.name)
	}
	remove()
	d.say("== stopping the other nodes")
	for _, nd := range nodes {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		_ = nd.ch.Stop(sctx, channel.SvcAll)
		c()
	}
	nodes = nil
	d.say("== done")
	return nil
}

func (d *clusterDemo) mcastConfig() mcast.Config {
	cfg := mcast.DefaultLocalConfig()
	cfg.Address, cfg.Port, cfg.DropTime = d.group, d.port, d.drop
	return cfg
}

func (d *clusterDemo) startNode(ctx context.Context, name string, log *slog.Logger) (*clusterNode, error) {
	tcfg := nio.DefaultConfig()
	tcfg.Port = 0 // any free port: several demos may run at once
	mcfg := d.mcastConfig()
	ch, err := node.New(node.Config{Transport: &tcfg, Multicast: &mcfg, Interceptors: "tcpfailure", Logger: log})
	if err != nil {
		return nil, err
	}
	nd := &clusterNode{name: name, ch: ch, fd: ch.Interceptors()[0].(*interceptors.TCPFailureDetector)}
	nd.ch.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error {
		nd.got.Add(1)
		return nil
	}))
	nd.ch.AddMembershipListener(channel.MembershipFuncs{
		Added: func(m channel.Member) {
			d.say("   %s sees %s join", nd.name, d.name(m))
			nd.shown.Store(m.Key(), true)
		},
	})
	nd.started = time.Now()
	// Start the transport first, so the member's address is known and named before it is
	// announced to the group.
	if err := nd.ch.Start(ctx, channel.SvcTransport); err != nil {
		return nil, err
	}
	lm := nd.ch.LocalMember()
	d.setName(lm, name)
	d.say("   %s listening on %s, unique id %s", name, lm.Addr(), lm.UniqueID)
	if err := nd.ch.Start(ctx, channel.SvcMembership); err != nil {
		_ = nd.ch.Stop(context.Background(), channel.SvcAll)
		return nil, err
	}
	return nd, nil
}

func (d *clusterDemo) ackModes(ctx context.Context, nodes []*clusterNode, msgs, size int) error {
	payload := []byte(strings.Repeat("x", size))
	d.say("== node1 sends %d messages of %d bytes to the %d others, in each ack mode", msgs, size, len(nodes)-1)
	for _, mode := range []struct {
		opts       channel.SendOptions
		name, what string
	}{
		{channel.OptByteMessage, "none", "no ack: returns once the bytes are written"},
		{channel.OptUseAck, "use_ack", "waits for each receiver's ACK"},
		{channel.OptUseAck | channel.OptSyncAck, "use_ack,sync", "waits until each receiver processed it"},
	} {
		before := received(nodes[1:])
		start := time.Now()
		for range msgs {
			if err := nodes[0].ch.Send(ctx, nil, payload, mode.opts); err != nil {
				return fmt.Errorf("send (%v): %w", mode.opts, err)
			}
		}
		el := time.Since(start)
		want := before + int64(msgs*(len(nodes)-1))
		if mode.opts&channel.OptSyncAck == 0 {
			// Without sync ACKs the last messages may still be in the receivers' listeners
			// (use_ack is ACKed on receipt); give them a bounded moment to catch up.
			_ = waitFor(ctx, 5*time.Second, func() bool { return received(nodes[1:]) >= want })
		}
		d.say("   %-13s %6.0f msgs/s  %7.1f µs per send  delivered %d/%d  (%s)", mode.name+":",
			float64(msgs)/el.Seconds(), float64(el.Microseconds())/float64(msgs), received(nodes[1:])-before,
			msgs*(len(nodes)-1), mode.what)
	}
	return nil
}

// session replicates an HTTP session with session/delta: written on node1, read on node2.
func (d *clusterDemo) session(ctx context.Context, nodes []*clusterNode) error {
	d.say("== a session written on node1 is read on node2 (session/delta, acked replication)")
	var mgrs []*delta.Manager
	var clusters []*delta.Cluster
	for _, nd := range nodes {
		// Every node runs the session cluster (Tomcat's ClusterSessionListener), so a node
		// without the application answers a state-transfer request instead of staying silent.
		cl, err := delta.NewCluster(delta.ClusterConfig{Channel: nd.ch})
		if err != nil {
			return err
		}
		defer cl.Close(context.WithoutCancel(ctx))
		clusters = append(clusters, cl)
	}
	for i, nd := range nodes[:2] {
		m, err := clusters[i].NewManager(delta.Config{Name: "localhost#/demo", JvmRoute: nd.name, Replication: delta.ReplicateAcked})
		if err != nil {
			return err
		}
		if err := m.Start(ctx); err != nil {
			return err
		}
		if err := m.WaitReady(ctx); err != nil {
			return err
		}
		mgrs = append(mgrs, m)
	}
	s, err := mgrs[0].Create(ctx)
	if err != nil {
		return err
	}
	if err := s.Set("user", "alice"); err != nil {
		return err
	}
	if err := s.Set("cart", 3); err != nil {
		return err
	}
	if err := mgrs[0].Replicate(ctx, s); err != nil {
		return err
	}
	d.say("   node1 created session %s and set user=alice, cart=3", s.ID())
	cp := mgrs[1].Find(s.ID())
	if cp == nil {
		return errors.New("node2 does not have the session")
	}
	user, _ := delta.Attr[string](cp, "user")
	cart, _ := delta.Attr[int](cp, "cart")
	d.say("   node2 reads user=%s, cart=%d (its copy is primary: %v)", user, cart, cp.IsPrimary())
	for _, m := range mgrs {
		_ = m.Stop(context.WithoutCancel(ctx))
	}
	return nil
}

// crash runs one more node as a child process, waits until the others see it, kills it
// with SIGKILL and reports how long the others took to drop it.
func (d *clusterDemo) crash(ctx context.Context, nodes []*clusterNode) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	name := fmt.Sprintf("node%d", len(nodes)+1)
	d.say("== %s runs as a separate process and is killed with SIGKILL (no goodbye)", name)
	d.namesMu.Lock()
	d.expect = name
	d.namesMu.Unlock()
	cmd := exec.CommandContext(ctx, exe, "node", "--port", "0", "--seconds", "120",
		"--mcast-addr", d.group, "--mcast-port", strconv.Itoa(d.port), "--mcast-bind", "127.0.0.1",
		"--drop-time", strconv.FormatInt(d.drop.Milliseconds(), 10), "--interceptors", "tcpfailure")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	waited := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(waited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-waited
	}()
	joined := make(chan channel.Member, 1)
	gone := make(chan struct{}, len(nodes))
	var victim atomic.Pointer[channel.MemberKey]
	var removes []func()
	for _, nd := range nodes {
		removes = append(removes, nd.ch.AddMembershipListener(channel.MembershipFuncs{
			Added: func(m channel.Member) {
				if d.name(m) == name {
					k := m.Key()
					victim.Store(&k)
					select {
					case joined <- m:
					default:
					}
				}
			},
			Disappeared: func(m channel.Member) {
				if k := victim.Load(); k != nil && *k == m.Key() {
					gone <- struct{}{}
				}
			},
		}))
	}
	defer func() {
		for _, r := range removes {
			r()
		}
	}()
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not join within 10 s", name, cmd.Process.Pid)
	case <-ctx.Done():
		return ctx.Err()
	}
	k := victim.Load()
	if err := waitFor(ctx, 5*time.Second, func() bool {
		for _, nd := range nodes {
			// The listener's line, not only the member table: the join lines come first.
			if _, ok := nd.shown.Load(*k); !ok {
				return false
			}
		}
		return true
	}); errors.Is(err, errWaitedOut) {
		return fmt.Errorf("not every node saw %s join", name)
	} else if err != nil {
		return err
	}
	d.say("   %s (pid %d) killed", name, cmd.Process.Pid)
	killedAt := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		return err
	}
	deadline := time.After(d.drop + 10*time.Second)
	for range nodes {
		select {
		case <-gone:
		case <-deadline:
			return fmt.Errorf("%s was not dropped by every node within the drop time + 10 s", name)
		}
	}
	d.say("   every node dropped %s %s after the kill (drop time %s: heartbeats stopped; the TCP failure detector found its port closed)",
		name, round(time.Since(killedAt)), d.drop)
	return nil
}

func round(d time.Duration) time.Duration {
	if d > time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Microsecond)
}

func received(nodes []*clusterNode) int64 {
	var t int64
	for _, nd := range nodes {
		t += nd.got.Load()
	}
	return t
}

// errWaitedOut is waitFor's limit passing before its condition held.
var errWaitedOut = errors.New("waited out")

// waitFor polls cond until it holds (nil), limit passes (errWaitedOut) or ctx ends (an
// error wrapping ctx's cause: an interrupt, or errTimeLimit).
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return errWaitedOut
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped: %w", context.Cause(ctx))
		case <-t.C:
		}
	}
	return nil
}
