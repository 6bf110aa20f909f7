package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// nodeEnv marks a child process started by the suite: it runs one node (runNode) instead
// of the suite. The same binary serves both, so that go test can run the suite too.
const nodeEnv = "GOTRIBES_ATTACK_NODE"

// appName is the session context every node runs.
const appName = "localhost#/attack"

// loadPrefix starts every payload of the steady load: "LOAD <sender> <seq>".
const loadPrefix = "LOAD "

// nodeStats is what a node's /stats answers.
type nodeStats struct {
	Delivered map[string]uint64 `json:"delivered"` // load messages acked, by destination host:port
	Failed    map[string]uint64 `json:"failed"`    // load sends that failed, by destination
	Received  uint64            `json:"received"`  // load messages received
	// Stale counts load messages whose sequence number is not newer than one already
	// received from the same sender: replays (each sender sends in order, one at a time).
	Stale            uint64 `json:"stale"`
	Sessions         int    `json:"sessions"`
	SessionsChanged  int    `json:"sessionsChanged"` // sessions whose "owner" is not their route's node
	Members          int    `json:"members"`
	Healthy          bool   `json:"healthy"`
	NonMemberDropped uint64 `json:"nonMemberDropped"` // by the channel's sender check
	RefusedNonMember uint64 `json:"refusedNonMember"` // by session/delta's own check
	SessionsServed   uint64 `json:"sessionsServed"`
	Ready            bool   `json:"ready"`
	// Transport is the receiver's and sender's counters: the attacks read in them that
	// their defence acted (connections timed out, stalled or refused, accepts failed).
	Transport nio.Stats `json:"transport"`
	// Multicast is the multicast membership's counters (zero with static membership).
	Multicast mcast.Stats `json:"multicast"`
	// OversizedMembers counts the members the node believes whose payload is over
	// mcast.DefaultMaxPayloadSize, the cap of the suite's multicast membership.
	OversizedMembers int `json:"oversizedMembers"`
	// StopsRefuted is the static membership protocol's Stats.StopsRefuted (0 without it).
	StopsRefuted uint64 `json:"stopsRefuted"`
	// MembersGone counts the members the channel reported gone since the node started.
	MembersGone uint64 `json:"membersGone"`
	// MemberIDs are the unique ids of the members the node lists.
	MemberIDs []string `json:"memberIDs"`
	// Nofile is the node process's RLIMIT_NOFILE (soft limit).
	Nofile uint64 `json:"nofile"`
}

// suiteNode is one cluster node of the suite: a channel on transport/nio, a session manager
// holding sessions, a steady acked load to its peers and a control endpoint.
type suiteNode struct {
	name  string
	ch    *channel.Channel
	cl    *delta.Cluster
	m     *delta.Manager
	peers []wire.Member // the members the load goes to

	mu        sync.Mutex
	delivered map[string]uint64
	failed    map[string]uint64
	lastSeq   map[string]uint64
	received  atomic.Uint64
	stale     atomic.Uint64
	gone      atomic.Uint64 // members reported gone
}

// nodeFlags are the flags of a node process (see runNode).
type nodeFlags struct {
	name, id, static, mcastAddr, interceptors, ctrl, peers string
	port, mcastPort, nofile, load                          int
	staticProtocol                                         bool
	firstFrameTimeout, frameTimeout, lifetime              time.Duration
}

func runNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f nodeFlags
	fs.StringVar(&f.name, "name", "A", "node name: its jvmRoute and the owner of the sessions it creates")
	fs.StringVar(&f.id, "id", "", "unique id, 32 hex digits")
	fs.IntVar(&f.port, "port", 0, "TCP receiver port")
	fs.StringVar(&f.static, "static", "", "static members host:port:id, comma separated (else --mcast-addr)")
	fs.BoolVar(&f.staticProtocol, "static-protocol", false, "run Tribes' StaticMembershipService protocol over --static (membership/staticsvc)")
	fs.StringVar(&f.mcastAddr, "mcast-addr", "", "multicast group for membership, on 127.0.0.1")
	fs.IntVar(&f.mcastPort, "mcast-port", mcast.DefaultPort, "multicast port")
	fs.StringVar(&f.peers, "peers", "", "members the steady load goes to, host:port:id, comma separated")
	fs.IntVar(&f.load, "load", 0, "acked messages per second to each peer (0: no load)")
	fs.StringVar(&f.interceptors, "interceptors", "", "interceptor stack, as interceptors.Build reads it")
	fs.IntVar(&f.nofile, "nofile", 0, "RLIMIT_NOFILE of the process (0: unchanged)")
	fs.DurationVar(&f.firstFrameTimeout, "first-frame-timeout", 0, "nio FirstFrameTimeout (0: default)")
	fs.DurationVar(&f.frameTimeout, "frame-timeout", 0, "nio FrameTimeout (0: default)")
	fs.StringVar(&f.ctrl, "ctrl", "127.0.0.1:0", "address of the control endpoint")
	fs.DurationVar(&f.lifetime, "lifetime", 5*time.Minute, "exit after this long, should the suite not stop the node")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.nofile > 0 {
		if err := setNofile(f.nofile); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := newNode(f, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.lifetime)
	defer cancel()
	if err := n.ch.Start(ctx, channel.SvcAll); err != nil {
		return err
	}
	defer func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = n.cl.Close(sctx)
		_ = n.ch.Stop(sctx, channel.SvcAll)
	}()
	if err := n.m.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.ctrl)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: n.mux(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if f.load > 0 {
		for _, p := range n.peers {
			go n.loadTo(ctx, p, f.load)
		}
	}
	if err := json.NewEncoder(stdout).Encode(map[string]string{"event": "started", "ctrl": ln.Addr().String()}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func newNode(f nodeFlags, log *slog.Logger) (*suiteNode, error) {
	tr := nio.DefaultConfig()
	tr.Port, tr.AutoBind = f.port, 1
	tr.FirstFrameTimeout, tr.FrameTimeout = f.firstFrameTimeout, f.frameTimeout
	cfg := node.Config{Transport: &tr, Interceptors: f.interceptors, Logger: log}
	if f.mcastAddr != "" {
		mc := mcast.DefaultLocalConfig()
		mc.Address, mc.Port, mc.JoinWait = f.mcastAddr, f.mcastPort, 0
		cfg.Multicast = &mc
	} else {
		members, err := wire.ParseMemberList(f.static)
		if err != nil {
			return nil, err
		}
		cfg.StaticMembers = members
		if f.staticProtocol {
			cfg.StaticProtocol = &staticsvc.Config{}
		}
	}
	var err error
	if cfg.UniqueID, err = wire.ParseUniqueID(f.id); err != nil {
		return nil, err
	}
	ch, err := node.New(cfg)
	if err != nil {
		return nil, err
	}
	n := &suiteNode{name: f.name, ch: ch, delivered: map[string]uint64{}, failed: map[string]uint64{}, lastSeq: map[string]uint64{}}
	if n.peers, err = wire.ParseMemberList(f.peers); err != nil {
		return nil, err
	}
	ch.AddMessageListener(n)
	ch.AddMembershipListener(channel.MembershipFuncs{Disappeared: func(channel.Member) { n.gone.Add(1) }})
	if n.cl, err = delta.NewCluster(delta.ClusterConfig{Channel: ch, Logger: log}); err != nil {
		return nil, err
	}
	n.m, err = n.cl.NewManager(delta.Config{Name: appName, JvmRoute: f.name, Replication: delta.ReplicateAcked,
		TolerateUnreachable: true, ExpireInterval: -1, Logger: log})
	return n, err
}

// Accept takes the load's messages; session messages go to the session cluster.
func (n *suiteNode) Accept(msg *channel.Message) bool {
	return strings.HasPrefix(string(msg.Data), loadPrefix)
}

// MessageReceived counts a load message, and counts it stale when its sequence number is
// not newer than the last one from its sender.
func (n *suiteNode) MessageReceived(msg *channel.Message) error {
	fields := strings.Fields(string(msg.Data))
	if len(fields) < 3 {
		return nil
	}
	seq, err := strconv.ParseUint(fields[2], 10, 64)
	if err != nil {
		return nil
	}
	n.received.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if last, ok := n.lastSeq[fields[1]]; ok && seq <= last {
		n.stale.Add(1)
		return nil
	}
	n.lastSeq[fields[1]] = seq
	return nil
}

// loadTo sends rate use_ack,sync messages a second to peer, one at a time, while the
// membership has it.
func (n *suiteNode) loadTo(ctx context.Context, peer wire.Member, rate int) {
	addr := peer.Addr()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	pad := strings.Repeat("x", 200)
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		to, ok := n.ch.Member(peer.Key())
		if !ok {
			n.count(n.failed, addr)
			continue
		}
		seq++
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := n.ch.Send(sctx, []channel.Member{to}, fmt.Appendf(nil, "%s%s %d %s", loadPrefix, n.name, seq, pad),
			channel.OptUseAck|channel.OptSyncAck)
		cancel()
		if err != nil {
			n.count(n.failed, addr)
		} else {
			n.count(n.delivered, addr)
		}
	}
}

func (n *suiteNode) count(m map[string]uint64, addr string) {
	n.mu.Lock()
	m[addr]++
	n.mu.Unlock()
}

func (n *suiteNode) stats() nodeStats {
	st := nodeStats{Received: n.received.Load(), Stale: n.stale.Load(), Sessions: n.m.Len(),
		Members: len(n.ch.Members()), Healthy: n.ch.Healthy(), Ready: n.m.Ready(),
		NonMemberDropped: n.ch.Stats().NonMemberDropped, RefusedNonMember: n.cl.Stats().RefusedNonMember, SessionsServed: n.m.Stats().SessionsServed}
	if tr, ok := n.ch.Transport().(*nio.Transport); ok {
		st.Transport = tr.Stats()
	}
	if mc, ok := n.ch.Membership().(*mcast.Service); ok {
		st.Multicast = mc.Stats()
	}
	if ss, ok := n.ch.Membership().(*staticsvc.Service); ok {
		st.StopsRefuted = ss.Stats().StopsRefuted
	}
	st.MembersGone = n.gone.Load()
	for _, m := range n.ch.Members() {
		st.MemberIDs = append(st.MemberIDs, m.UniqueID.String())
		if len(m.Payload) > mcast.DefaultMaxPayloadSize {
			st.OversizedMembers++
		}
	}
	st.Nofile = nofile()
	n.mu.Lock()
	st.Delivered, st.Failed = maps.Clone(n.delivered), maps.Clone(n.failed)
	n.mu.Unlock()
	n.m.Range(func(s *delta.Session) bool {
		owner, _ := delta.Attr[string](s, "owner")
		if _, route, _ := strings.Cut(s.ID(), "."); owner != route {
			st.SessionsChanged++
		}
		return true
	})
	return st
}

// createSessions creates k sessions owned by this node, replicated with acks.
func (n *suiteNode) createSessions(ctx context.Context, k int) error {
	if err := n.m.WaitReady(ctx); err != nil {
		return err
	}
	for range k {
		s, err := n.m.Create(ctx)
		if err != nil {
			return err
		}
		if err := s.Set("owner", n.name); err != nil {
			return err
		}
		if err := n.m.Replicate(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func (n *suiteNode) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(n.stats())
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, _ *http.Request) {
		var ids []string
		n.m.Range(func(s *delta.Session) bool { ids = append(ids, s.ID()); return true })
		_ = json.NewEncoder(w).Encode(ids)
	})
	mux.HandleFunc("POST /create", func(w http.ResponseWriter, r *http.Request) {
		k, _ := strconv.Atoi(r.URL.Query().Get("n"))
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		if err := n.createSessions(ctx, k); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}

func nodeMain() {
	if err := runNode(signalContext(), os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "tribesattack node: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}
