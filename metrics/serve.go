package metrics

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Mux returns a handler with the registry's Prometheus metrics on /metrics, expvar's
// /debug/vars (which shows the registry once PublishExpvar was called) and a short index
// on /.
func (r *Registry) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", r.Handler())
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "tribes metrics: /metrics (Prometheus text), /debug/vars (expvar JSON)")
	})
	return mux
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves Mux until ctx
// ends, then shuts the server down and returns nil. It returns at once with the error if
// addr cannot be bound.
func (r *Registry) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return r.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened (and learnt the address of). It
// closes ln.
func (r *Registry) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: r.Mux(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close() // scrapes that did not finish in time
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
