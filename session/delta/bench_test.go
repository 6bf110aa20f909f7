package delta_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func sessionRequest(b *testing.B, h http.Handler) *http.Request {
	w := get(h, "/", "")
	c := sessionCookie(b, w, "JSESSIONID")
	if c == nil {
		b.Fatal("no session cookie")
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(c)
	return r
}

// BenchmarkMiddlewareLocal measures the counter page behind the middleware on a node
// without members (no replication) and bareCounter, the same page as a bare handler
// keeping a map, both called directly with a session cookie (no sockets, no HTTP parsing):
// the middleware's own cost per request and its allocations.
func BenchmarkMiddlewareLocal(b *testing.B) {
	solo := startReady(b, channeltest.NewNetwork(), delta.Config{JvmRoute: "solo"})
	for _, side := range []struct {
		name string
		h    http.Handler
	}{{"bare", bareCounter()}, {"middleware", wrap(b, solo, delta.HTTPConfig{}, counter)}} {
		b.Run(side.name, func(b *testing.B) {
			r := sessionRequest(b, side.h)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				side.h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkHTTP measures requests per second of the counter handler (one attribute set
// per request) on a node that replicates to two peers over channeltest (in-memory,
// synchronous delivery: the cost is encoding, the channel stack and applying the delta
// on both peers, no sockets), then runs as many requests on a node without peers, and
// reports both rates and their ratio (replicated / local). With asynchronous replication
// the timing ends when the node's queue has sent everything; requests that end while a
// delta of their session is being sent have theirs go out together after it.
func BenchmarkHTTP(b *testing.B) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAsync, delta.ReplicateAcked} {
		b.Run(mode.String(), func(b *testing.B) {
			_, a, _, _ := three(b, delta.Config{Replication: mode})
			solo := startReady(b, channeltest.NewNetwork(), delta.Config{JvmRoute: "solo", Replication: mode})
			hRepl, hSolo := wrap(b, a, delta.HTTPConfig{}, counter), wrap(b, solo, delta.HTTPConfig{}, counter)
			rRepl, rSolo := sessionRequest(b, hRepl), sessionRequest(b, hSolo)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			n := 0
			start := time.Now()
			for b.Loop() {
				clear(w.h)
				hRepl.ServeHTTP(w, rRepl)
				n++
			}
			delta.DrainAsync(a.m)
			repl := time.Since(start)
			start = time.Now()
			for range n {
				clear(w.h)
				hSolo.ServeHTTP(w, rSolo)
			}
			local := time.Since(start)
			b.ReportMetric(float64(n)/repl.Seconds(), "req/s")
			b.ReportMetric(float64(n)/local.Seconds(), "req/s-local")
			b.ReportMetric(local.Seconds()/repl.Seconds(), "repl/local")
		})
	}
}

// joiner starts a channel, cluster and manager on nw and waits for its state transfer;
// stop undoes it.
func joiner(b *testing.B, nw *channeltest.Network) (m *delta.Manager, stop func()) {
	ctx := context.Background()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		b.Fatal(err)
	}
	cl := newCluster(b, ch, delta.ClusterConfig{})
	m, err = cl.NewManager(delta.Config{Name: appName, JvmRoute: "j", ExpireInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	return m, func() {
		_ = cl.Close(ctx)
		_ = ch.Stop(ctx, channel.SvcAll)
	}
}

// BenchmarkStateTransfer100k transfers 100 000 sessions of one 1 KiB attribute each from
// one node to a joining one (channeltest). Besides time it reports, per transfer, the
// peak rise of the heap in use (sampled every 5 ms), the heap retained by the joiner
// after a GC, and the bytes allocated.
func BenchmarkStateTransfer100k(b *testing.B) {
	const n, size = 100_000, 1024
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	donor := startReady(b, nw, delta.Config{JvmRoute: "d", ExpireInterval: -1})
	for i := range n {
		s, _ := donor.m.Create(ctx)
		v := bytes.Repeat([]byte{byte(i)}, size)
		_ = s.Set("blob", v)
		_ = donor.m.Replicate(ctx, s)
	}
	b.SetBytes(n * size)
	b.ReportAllocs()
	var peak, retained, allocated float64
	iters := 0
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		done, peakc := make(chan struct{}), make(chan uint64)
		go func() {
			var ms runtime.MemStats
			var hi uint64
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&ms)
				hi = max(hi, ms.HeapInuse)
				select {
				case <-done:
					peakc <- hi
					return
				case <-t.C:
				}
			}
		}()
		b.StartTimer()
		m, stop := joiner(b, nw)
		b.StopTimer()
		close(done)
		hi := <-peakc
		runtime.ReadMemStats(&after)
		hi = max(hi, after.HeapInuse)
		if m.Len() != n {
			b.Fatalf("joiner holds %d sessions", m.Len())
		}
		allocated += float64(after.TotalAlloc - before.TotalAlloc)
		runtime.GC()
		runtime.ReadMemStats(&after)
		retained += float64(after.HeapAlloc) - float64(before.HeapAlloc)
		peak += float64(hi) - float64(before.HeapInuse)
		iters++
		stop()
		b.StartTimer()
	}
	b.ReportMetric(peak/float64(iters)/(1<<20), "MiB-peak-heap-rise")
	b.ReportMetric(retained/float64(iters)/(1<<20), "MiB-retained")
	b.ReportMetric(allocated/float64(iters)/(1<<20), "MiB-allocated")
	b.ReportMetric(retained/float64(iters)/n, "B/session")
}

// BenchmarkMemoryPerSession measures the heap one small session costs (a 16-byte string
// and a counter) on the node that created it and as a replicated copy on another node.
func BenchmarkMemoryPerSession(b *testing.B) {
	const n = 20_000
	ctx := context.Background()
	user := strings.Repeat("u", 16)
	var primary, replica float64
	iters := 0
	for b.Loop() {
		nw := channeltest.NewNetwork()
		var ms0, ms1, ms2 runtime.MemStats
		a := startReady(b, nw, delta.Config{JvmRoute: "a", ExpireInterval: -1})
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		for i := range n {
			s, _ := a.m.Create(ctx)
			_ = s.Set("user", user)
			_ = s.Set("count", i)
			_ = a.m.Replicate(ctx, s)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		m, stop := joiner(b, nw)
		runtime.GC()
		runtime.ReadMemStats(&ms2)
		if m.Len() != n {
			b.Fatalf("copy holds %d", m.Len())
		}
		primary += (float64(ms1.HeapAlloc) - float64(ms0.HeapAlloc)) / n
		replica += (float64(ms2.HeapAlloc) - float64(ms1.HeapAlloc)) / n
		iters++
		stop()
		_ = a.m.Stop(ctx)
	}
	b.ReportMetric(primary/float64(iters), "B/session-primary")
	b.ReportMetric(replica/float64(iters), "B/session-copy")
}

// BenchmarkReplicate is one Set and Replicate to two peers, without HTTP.
func BenchmarkReplicate(b *testing.B) {
	ctx := context.Background()
	_, a, _, _ := three(b, delta.Config{})
	s := create(b, a)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = s.Set("count", i)
		if err := a.m.Replicate(ctx, s); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
