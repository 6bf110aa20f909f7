package delta_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/nodetest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	tribesnode "github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// Benchmarks over real loopback TCP: every node has a transport/nio channel on 127.0.0.1
// (a free port) and a static membership listing the others, all in the test process.

// tcpNode is a node of a loopback cluster.
type tcpNode struct {
	ch *channel.Channel
	ms *static.Service
	cl *delta.Cluster
	m  *delta.Manager
}

// startTCPChannel starts a nio channel on 127.0.0.1 with an empty static membership; it
// is stopped when the benchmark ends.
func startTCPChannel(tb testing.TB) (*channel.Channel, *static.Service) {
	tb.Helper()
	return startTCPChannelWith(tb, nio.DefaultConfig())
}

// startTCPChannelWith is startTCPChannel with the transport configured by cfg (its Port
// is set to 0).
func startTCPChannelWith(tb testing.TB, cfg nio.Config) (*channel.Channel, *static.Service) {
	tb.Helper()
	cfg.Port = 0
	ch := nodetest.Start(tb, tribesnode.Config{Transport: &cfg})
	return ch, ch.Membership().(*static.Service)
}

// tcpCluster starts n nodes that list each other, each with a ready manager configured
// by cfg (routes n0, n1, ...; no state transfer, no expiry sweep).
func tcpCluster(tb testing.TB, n int, cfg delta.Config) []*tcpNode {
	tb.Helper()
	nodes := make([]*tcpNode, n)
	for i := range nodes {
		ch, ms := startTCPChannel(tb)
		nodes[i] = &tcpNode{ch: ch, ms: ms}
	}
	for _, a := range nodes {
		for _, o := range nodes {
			if o != a {
				if err := a.ms.Add(context.Background(), o.ch.LocalMember()); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
	for i, nd := range nodes {
		nd.cl = newCluster(tb, nd.ch, delta.ClusterConfig{})
		c := cfg
		c.Name, c.JvmRoute, c.SkipStateTransfer, c.ExpireInterval = appName, fmt.Sprintf("n%d", i), true, -1
		m, err := nd.cl.NewManager(c)
		if err != nil {
			tb.Fatal(err)
		}
		if err := m.Start(context.Background()); err != nil {
			tb.Fatal(err)
		}
		nd.m = m
		tb.Cleanup(func() { _ = nd.cl.Close(context.Background()) })
	}
	return nodes
}

// counterServer serves the counter handler of n over HTTP on 127.0.0.1.
func counterServer(tb testing.TB, n *tcpNode) *httptest.Server {
	tb.Helper()
	mw, err := delta.NewMiddleware(n.m, delta.HTTPConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(mw.Wrap(counter))
	tb.Cleanup(srv.Close)
	return srv
}

// httpLoad sends n counter requests to url from len(cookies) goroutines, each on its own
// session (the cookie at its index; an empty one is filled from the first response).
func httpLoad(tb testing.TB, hc *http.Client, url string, cookies []string, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[string]
	for i := range cookies {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if cookies[i] != "" {
					req.Header.Set("Cookie", "JSESSIONID="+cookies[i])
				}
				resp, err := hc.Do(req)
				if err != nil {
					msg := err.Error()
					failed.Store(&msg)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					msg := resp.Status
					failed.Store(&msg)
					return
				}
				for _, c := range resp.Cookies() {
					if c.Name == "JSESSIONID" {
						cookies[i] = c.Value
					}
				}
			}
		})
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		tb.Fatalf("request to %s failed: %s", url, *p)
	}
}

// waitApplied waits (at most 10 s) until every peer received as many deltas as the
// source sent: asynchronous replication may still be running when the load ends.
func waitApplied(tb testing.TB, src *tcpNode, peers ...*tcpNode) {
	tb.Helper()
	want := src.m.Stats().Sent[delta.EventDelta]
	for _, p := range peers {
		testutil.Eventually(tb, 10*time.Second, func() error {
			if got := p.m.Stats().Received[delta.EventDelta]; got < want {
				return fmt.Errorf("a peer got %d of %d deltas", got, want)
			}
			return nil
		})
	}
}

// bareCounter is the ceiling of BenchmarkHTTPLoopback: the counter page as a bare
// net/http handler keeping a map from a random cookie id to the count under a mutex, with
// none of the middleware's work (no expiry, no attributes, no replication).
func bareCounter() http.Handler {
	var mu sync.Mutex
	counts := map[string]int{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ""
		if c, err := r.Cookie("JSESSIONID"); err == nil {
			id = c.Value
		}
		mu.Lock()
		n, ok := counts[id]
		if !ok {
			id = rand.Text()
		}
		n++
		counts[id] = n
		mu.Unlock()
		if !ok {
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: id, Path: "/", HttpOnly: true})
		}
		fmt.Fprint(w, n)
	})
}

// BenchmarkHTTPLoopback measures the counter page (one attribute set per request) served
// by net/http on 127.0.0.1 and requested by an http.Client with keep-alive, on three
// servers in alternating blocks of the same number of requests: a node that replicates to
// two peers over transport/nio (loopback TCP, static membership), a node of the same kind
// without members, and bareCounter, the ceiling. It reports the three rates and the ratios
// repl/local (replicated / no replication) and local/bare (the middleware without
// replication / the bare handler). clients is the number of concurrent clients, each with
// its own session. Everything runs in this process, on the same cores: client, servers
// and both peers; B/op and allocs/op are the whole process's per replicated request
// (the other two sides run with the timer stopped, but their allocations count too).
// A replicated block ends when both peers applied every delta. cpu-µs/req is the
// process's CPU time (user and system, getrusage) per request of each side, less
// sensitive to other load on the machine than the rates; deltas/frame is how many
// deltas a peer received per transport frame (group commit).
//
//	go test -run '^$' -bench HTTPLoopback -benchtime 20000x -count 3 ./session/delta/
func BenchmarkHTTPLoopback(b *testing.B) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAsync, delta.ReplicateAcked} {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/clients=%d", mode, clients), func(b *testing.B) {
				nodes := tcpCluster(b, 3, delta.Config{Replication: mode})
				solo := tcpCluster(b, 1, delta.Config{Replication: mode})[0]
				bare := httptest.NewServer(bareCounter())
				b.Cleanup(bare.Close)
				urls := []string{counterServer(b, nodes[0]).URL, counterServer(b, solo).URL, bare.URL}
				tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
				b.Cleanup(tr.CloseIdleConnections)
				hc := &http.Client{Transport: tr}
				cookies := make([][]string, len(urls))
				for i, u := range urls {
					cookies[i] = make([]string, clients)
					httpLoad(b, hc, u, cookies[i], 100*clients) // sessions, connections, pools
				}
				waitApplied(b, nodes[0], nodes[1:]...)
				// Alternate blocks of replicated, local and bare requests, so that whatever
				// else the machine does weighs on all three alike.
				block := max(b.N/10, 100)
				elapsed, cpu := make([]time.Duration, len(urls)), make([]time.Duration, len(urls))
				peer := nodes[1].ch.Transport().(*nio.Transport)
				deltas0, frames0 := nodes[1].m.Stats().Received[delta.EventDelta], peer.Stats().FramesReceived
				b.ReportAllocs()
				b.ResetTimer()
				for done := 0; done < b.N; done += block {
					k := min(block, b.N-done)
					for i, u := range urls {
						if i == 0 {
							b.StartTimer()
						}
						start, cpu0 := time.Now(), processCPU(b)
						httpLoad(b, hc, u, cookies[i], k)
						if i == 0 {
							waitApplied(b, nodes[0], nodes[1:]...) // the peers' share of the work
						}
						elapsed[i] += time.Since(start)
						cpu[i] += processCPU(b) - cpu0
						if i == 0 {
							b.StopTimer()
						}
					}
				}
				b.ReportMetric(float64(b.N)/elapsed[0].Seconds(), "req/s")
				b.ReportMetric(float64(b.N)/elapsed[1].Seconds(), "req/s-local")
				b.ReportMetric(float64(b.N)/elapsed[2].Seconds(), "req/s-bare")
				b.ReportMetric(elapsed[1].Seconds()/elapsed[0].Seconds(), "repl/local")
				b.ReportMetric(elapsed[2].Seconds()/elapsed[1].Seconds(), "local/bare")
				b.ReportMetric(float64(cpu[0].Microseconds())/float64(b.N), "cpu-µs/req")
				b.ReportMetric(float64(cpu[1].Microseconds())/float64(b.N), "cpu-µs/req-local")
				b.ReportMetric(float64(cpu[2].Microseconds())/float64(b.N), "cpu-µs/req-bare")
				deltas := nodes[1].m.Stats().Received[delta.EventDelta] - deltas0
				b.ReportMetric(float64(deltas)/float64(peer.Stats().FramesReceived-frames0), "deltas/frame")
			})
		}
	}
}

// BenchmarkMemoryPerReplicatedSession measures the heap one small session (a 16-byte
// string and a counter) costs on the node that created it and as a copy on a peer that
// got it through replication (EVT_SESSION_CREATED and an acknowledged delta over loopback
// TCP), not through a state transfer. Both nodes are in this process: the copies' share
// is what the heap gives back when the peer's manager stops (after a GC); the primaries'
// is the rest of the rise.
//
//	go test -run '^$' -bench MemoryPerReplicatedSession -benchtime 3x ./session/delta/
func BenchmarkMemoryPerReplicatedSession(b *testing.B) {
	const n = 20_000
	ctx := context.Background()
	user := strings.Repeat("u", 16)
	var primary, replica float64
	iters := 0
	for b.Loop() {
		nodes := tcpCluster(b, 2, delta.Config{Replication: delta.ReplicateAcked})
		a, p := nodes[0], nodes[1]
		var ms0, ms1, ms2 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		for i := range n {
			s, err := a.m.Create(ctx)
			if err != nil {
				b.Fatal(err)
			}
			_ = s.Set("user", user)
			_ = s.Set("count", i)
			if err := a.m.Replicate(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		if p.m.Len() != n {
			b.Fatalf("the peer holds %d sessions", p.m.Len())
		}
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		if err := p.m.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms2)
		primary += (float64(ms2.HeapAlloc) - float64(ms0.HeapAlloc)) / n
		replica += (float64(ms1.HeapAlloc) - float64(ms2.HeapAlloc)) / n
		iters++
		_ = a.m.Stop(ctx)
	}
	b.ReportMetric(primary/float64(iters), "B/session-primary")
	b.ReportMetric(replica/float64(iters), "B/session-copy")
}
