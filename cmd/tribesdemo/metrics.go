package main

import (
	"context"
	"expvar"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/metrics"
)

// metricsFlag is --metrics-addr: while the command runs, the channel's statistics (channel,
// transport, membership, interceptors; see package metrics) and the Go runtime's and the
// process's are served by promhttp on http://ADDR/metrics, and the channel's as expvar JSON
// on /debug/vars. node, load and rtt register it.
type metricsFlag struct{ addr string }

func (m *metricsFlag) register(fs *flag.FlagSet) {
	fs.StringVar(&m.addr, "metrics-addr", "", "serve metrics while running: Prometheus on http://ADDR/metrics, expvar on /debug/vars (e.g. 127.0.0.1:9100; empty = off)")
}

// serve starts serving ch's metrics if --metrics-addr was given. Call it before Start, so
// that a port in use fails the command early. stop ends the server; requests are not
// cancelled with ctx.
func (m *metricsFlag) serve(ctx context.Context, ch *channel.Channel, stderr io.Writer) (stop func(), err error) {
	if m.addr == "" {
		return func() {}, nil
	}
	c, err := metrics.NewCollector(metrics.Config{Channel: ch})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	// The process-wide expvar name can be published once; a second command in the same
	// process (tests) keeps /metrics but not the channel in /debug/vars.
	_ = c.PublishExpvar("tribes")
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/debug/vars", expvar.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	fmt.Fprintf(stderr, "metrics: http://%s/metrics\n", ln.Addr())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close() // scrapes that did not finish in time
		}
		<-done
	}, nil
}
