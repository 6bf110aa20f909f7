package delta_test

import (
	"net/http"
	"runtime"
	"testing"

	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// BenchmarkMiddlewareAcked measures the counter page behind the middleware called
// directly (no HTTP client or server, no sockets for the requests) from concurrent
// goroutines, each on its own session, on a node that replicates in acked mode to two
// peers over transport/nio (loopback TCP, all in this process), and on a node without
// members: the middleware's and the acked path's own cost per request and their
// allocations, without net/http's. B/op, allocs/op, mallocs/req (allocs/op to two
// decimals), cpu-µs/req (user and system CPU, getrusage) and switches/req (context
// switches of the process's threads, getrusage) are the whole process's, the peers'
// receiving included; deltas/frame is how many deltas a peer received per transport
// frame (group commit).
//
//	go test -run '^$' -bench MiddlewareAcked -benchmem -count 6 ./session/delta/
func BenchmarkMiddlewareAcked(b *testing.B) {
	const goroutines = 16
	nodes := tcpCluster(b, 3, delta.Config{Replication: delta.ReplicateAcked})
	solo := tcpCluster(b, 1, delta.Config{Replication: delta.ReplicateAcked})[0]
	for _, side := range []struct {
		name string
		n    *tcpNode
	}{{"acked", nodes[0]}, {"local", solo}} {
		b.Run(side.name, func(b *testing.B) {
			mw, err := delta.NewMiddleware(side.n.m, delta.HTTPConfig{})
			if err != nil {
				b.Fatal(err)
			}
			h := mw.Wrap(counter)
			reqs := make(chan *http.Request, goroutines)
			for range goroutines {
				reqs <- sessionRequest(b, h)
			}
			peer := nodes[1].ch.Transport().(*nio.Transport)
			deltas0, frames0 := nodes[1].m.Stats().Received[delta.EventDelta], peer.Stats().FramesReceived
			b.SetParallelism((goroutines + 1) / 2)
			b.ReportAllocs()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs0, cpu0, sw0 := ms.Mallocs, processCPU(b), processSwitches(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := <-reqs
				defer func() { reqs <- r }()
				w := &discard{h: http.Header{}}
				for pb.Next() {
					clear(w.h)
					h.ServeHTTP(w, r)
				}
			})
			b.StopTimer()
			cpu, sw := processCPU(b)-cpu0, processSwitches(b)-sw0
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.Mallocs-mallocs0)/float64(b.N), "mallocs/req")
			b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/req")
			b.ReportMetric(float64(sw)/float64(b.N), "switches/req")
			if side.n == nodes[0] {
				waitApplied(b, nodes[0], nodes[1:]...)
				deltas := nodes[1].m.Stats().Received[delta.EventDelta] - deltas0
				b.ReportMetric(float64(deltas)/float64(max(peer.Stats().FramesReceived-frames0, 1)), "deltas/frame")
			}
		})
	}
}
