package rpcinterop_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/rpc"
)

const (
	benchSize   = 64 // bytes of the byte[] request, echoed back
	benchWarmup = 2000
	benchOpts   = channel.OptUseAck // Tribes' SEND_OPTIONS_DEFAULT, for the requests
)

// BenchmarkRPCRoundTrip measures ALL_REPLY calls to one member that echoes a 64-byte
// byte[], one caller, over loopback TCP: Go rpc.Channel to Go rpc.Channel, and Java
// RpcChannel to Java RpcChannel (the test peer's bench-rpc, in its own JVM), in the same
// run. p50-us and p99-us are the round-trip latencies, calls/s the rate of the timed
// calls; java-java's ns/op also counts the JVM's start, so compare calls/s.
//
//	go test -run '^$' -bench RPCRoundTrip -benchtime 20000x ./interop/rpc/
func BenchmarkRPCRoundTrip(b *testing.B) {
	b.Run("go-go", func(b *testing.B) {
		rx, tx := startGo(b), startGo(b)
		addRPC(b, rx, rpcID, rpc.HandlerFunc(func(msg any, _ channel.Member) (any, error) { return msg, nil }), nil)
		c := addRPC(b, tx, rpcID, goAnswer, nil)
		to := []channel.Member{rx.LocalMember()}
		req := javapeer.Content(benchSize, 0, "")
		call := func() time.Duration {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			t0 := time.Now()
			rs, err := c.Call(ctx, to, req, rpc.AllReply, benchOpts)
			d := time.Since(t0)
			if err != nil || len(rs) != 1 || !bytes.Equal(rs[0].Message.([]byte), req) {
				b.Fatalf("call: %v, %v", rs, err)
			}
			return d
		}
		for range benchWarmup {
			call()
		}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			lat = append(lat, call())
		}
		secs := time.Since(start).Seconds()
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(b.N)/secs, "calls/s")
		b.ReportMetric(float64(pct(lat, 0.50).Microseconds()), "p50-us")
		b.ReportMetric(float64(pct(lat, 0.99).Microseconds()), "p99-us")
	})
	b.Run("java-java", func(b *testing.B) {
		javapeer.Skip(b)
		rx := javapeer.Start(b, "--rpc", rpcID, "--quiet")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		b.ResetTimer()
		r, err := javapeer.RunRPCBench(ctx, javapeer.RPCBenchOptions{To: rx.Member(), ID: rpcID,
			Count: b.N, Size: benchSize, Options: int(benchOpts), Warmup: benchWarmup})
		b.StopTimer()
		if err != nil || r.Failed > 0 {
			b.Fatalf("bench-rpc: %+v, %v", r, err)
		}
		b.ReportMetric(r.P50us, "p50-us")
		b.ReportMetric(r.P99us, "p99-us")
		b.ReportMetric(r.MsgsPerSec, "calls/s")
	})
}

// pct returns the p-th quantile of sorted latencies (the nearest-rank method bench-rpc
// uses too).
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(len(sorted)-1, i))]
}
