package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gotribes/tribes/internal/counter"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/scsstore"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// Server kinds.
const (
	kindBare  = "bare"  // a net/http handler keeping a map: the ceiling
	kindSCS   = "scs"   // alexedwards/scs with its memory store
	kindDelta = "delta" // session/delta middleware, alone or in a cluster
)

// serverConfig is what the server role runs (passed as JSON in the environment).
type serverConfig struct {
	Kind string
	HTTP string // listen address of the web application; empty means 127.0.0.1:0
	// delta only
	Route   string
	Port    int    // receiver port on 127.0.0.1; 0 picks one
	ID      string // unique id, hex
	Members string // static members as wire.ParseMemberList reads them; empty: no cluster
	Acked   bool
	Java    bool // Tomcat's session message format (delta.JavaCodec), for clusters with Tomcat
	// SCS serves the counter with alexedwards/scs over session/scsstore instead of
	// delta's middleware.
	SCS bool
	// DeliverOnLoop sets the transport's DeliverOnEventLoop.
	DeliverOnLoop bool
	// Engine sets the transport's receiver engine (nio.Config.Engine); empty: the default.
	Engine string
	// AckedBatchWait sets delta.Config.AckedBatchWait.
	AckedBatchWait time.Duration
	// CPUProfile, if set, is where the process writes its CPU profile, from its start to
	// its stop.
	CPUProfile string
	// Trace, if set, is where the process writes a runtime trace (go tool trace) of
	// TraceFor from TraceAt after its start.
	Trace   string
	TraceAt time.Duration
}

// traceFor is how long a server's runtime trace lasts: about 2.5 MB a second under load.
const traceFor = time.Second

// startTrace writes a runtime trace of traceFor to path, at from the call on, unless ctx
// ends first; the function it returns ends the trace early and waits for the file's
// close.
func startTrace(ctx context.Context, path string, at time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
			return
		case <-time.After(at):
		}
		f, err := os.Create(path)
		if err != nil {
			slog.Error("runtime trace", "err", err)
			return
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			slog.Error("runtime trace", "err", err)
			return
		}
		defer trace.Stop()
		select {
		case <-ctx.Done():
		case <-time.After(traceFor):
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// appName is Tomcat's cluster name of the /app context on host localhost.
const appName = "localhost#/app"

// serve runs the server role until SIGTERM: the counter page at /app/counter (read the
// session's "counter", add one, set it; print "id counter"), /app/get?name=counter (print
// "|counter" of an existing session, for checks) and /app/health, like the Tomcat test
// webapp. It prints "ready ADDRESS" on stdout once it serves.
func serve(cfg serverConfig) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.Trace != "" {
		stopTrace := startTrace(ctx, cfg.Trace, cfg.TraceAt)
		defer stopTrace()
	}
	var h http.Handler
	var closeFn func() error
	switch cfg.Kind {
	case kindBare:
		h = bareHandler()
	case kindSCS:
		sm := scs.New()
		sm.Store = memstore.New()
		h = sm.LoadAndSave(scsHandler(sm))
	case kindDelta:
		var err error
		h, closeFn, err = deltaHandler(ctx, cfg)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown server kind %q", cfg.Kind)
	}
	ln, err := net.Listen("tcp", cmp.Or(cfg.HTTP, "127.0.0.1:0"))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/app/health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/app/", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Println("ready", ln.Addr())
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, srv.Shutdown(sctx))
	if closeFn != nil {
		err = errors.Join(err, closeFn())
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// counterPage writes what every server's counter page writes.
func counterPage(w http.ResponseWriter, id string, n int) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "%s %d\n", id, n)
}

func bareHandler() http.Handler {
	var mu sync.Mutex
	counters := map[string]int{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		if c, err := r.Cookie("JSESSIONID"); err == nil {
			id = c.Value
		}
		switch r.URL.Path {
		case "/app/counter":
			mu.Lock()
			n, ok := counters[id]
			if !ok {
				var b [16]byte
				_, _ = rand.Read(b[:])
				id = strings.ToUpper(hex.EncodeToString(b[:]))
				http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: id, Path: "/app", HttpOnly: true})
			}
			n++
			counters[id] = n
			mu.Unlock()
			counterPage(w, id, n)
		case "/app/get":
			mu.Lock()
			n, ok := counters[id]
			mu.Unlock()
			if !ok {
				http.Error(w, "no session", http.StatusNotFound)
				return
			}
			fmt.Fprintf(w, "int|%d\n", n)
		default:
			http.NotFound(w, r)
		}
	})
}

func scsHandler(sm *scs.SessionManager) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app/counter":
			n := sm.GetInt(r.Context(), "counter") + 1
			sm.Put(r.Context(), "counter", n)
			// scs gives a new session its token only when the response is written.
			counterPage(w, "scs", n)
		case "/app/get":
			if !sm.Exists(r.Context(), "counter") {
				http.Error(w, "no session", http.StatusNotFound)
				return
			}
			fmt.Fprintf(w, "int|%d\n", sm.GetInt(r.Context(), "counter"))
		default:
			http.NotFound(w, r)
		}
	})
}

// deltaHandler starts a channel (static members with Tribes' StaticMembershipService
// protocol, so Tomcat nodes list it) and a manager, waits for every member and the state
// transfer, and returns the middleware-wrapped counter page and what stops them.
func deltaHandler(ctx context.Context, cfg serverConfig) (http.Handler, func() error, error) {
	id, err := hex.DecodeString(cfg.ID)
	if err != nil || len(id) != len(channel.UniqueID{}) {
		return nil, nil, fmt.Errorf("bad unique id %q", cfg.ID)
	}
	var members []channel.Member
	if cfg.Members != "" {
		if members, err = wire.ParseMemberList(cfg.Members); err != nil {
			return nil, nil, err
		}
	}
	tcfg := nio.DefaultConfig()
	tcfg.Address, tcfg.Port, tcfg.AutoBind = "127.0.0.1", cfg.Port, 1
	tcfg.DeliverOnEventLoop = cfg.DeliverOnLoop
	tcfg.Engine = nio.Engine(cfg.Engine)
	// Warnings (a static member that does not answer, a failed send) go to the server's
	// log, which the harness prints when the server does not start.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ncfg := node.Config{Transport: &tcfg, UniqueID: channel.UniqueID(id), Logger: logger}
	if len(members) > 0 {
		// StaticMembershipService's replies come from nodes not listed yet; session
		// messages from non-members are still refused by delta.Cluster.
		ncfg.StaticMembers, ncfg.StaticProtocol, ncfg.AcceptNonMembers = members, &staticsvc.Config{}, true
	}
	ch, err := node.New(ncfg)
	if err != nil {
		return nil, nil, err
	}
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		return nil, nil, err
	}
	stopCh := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return ch.Stop(sctx, channel.SvcAll)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := ch.WaitForMembers(wctx, len(members)); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("waiting for %d members: %w", len(members), err), stopCh())
	}
	var ccfg delta.ClusterConfig
	mcfg := delta.Config{Name: appName, JvmRoute: cfg.Route, Replication: delta.ReplicateAsync}
	if cfg.Acked {
		mcfg.Replication, mcfg.AckedBatchWait = delta.ReplicateAcked, cfg.AckedBatchWait
	}
	if cfg.Java {
		ccfg.Codec, mcfg.Codec = delta.JavaCodec{}, delta.JavaValueCodec{}
		// Tomcat's messages carry no session version: replay every message that arrived
		// during the state transfer (Tomcat stateTimestampDrop="false").
		mcfg.KeepStaleTransferMessages = true
	}
	if len(members) == 0 {
		mcfg.SkipStateTransfer = true
	}
	ccfg.Channel = ch
	cl, err := delta.NewCluster(ccfg)
	if err != nil {
		return nil, nil, errors.Join(err, stopCh())
	}
	var m *delta.Manager
	closeAll := func() error {
		if m != nil && len(members) > 0 {
			// For the log (--dir keeps it): how many session messages a frame carried.
			st, ts := m.Stats(), ch.Transport().(*nio.Transport).Stats()
			fmt.Fprintf(os.Stderr, "sent %d deltas in %d frames (one per member); received %d deltas in %d frames; %d batches waited for their cohort, %d left before all of it came\n",
				st.Sent[delta.EventDelta], ts.MessagesSent, st.Received[delta.EventDelta], ts.FramesReceived, st.BatchWaits, st.BatchWaitsRanOut)
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(cl.Close(sctx), stopCh())
	}
	m, err = cl.NewManager(mcfg)
	if err != nil {
		return nil, nil, errors.Join(err, closeAll())
	}
	if err := m.Start(ctx); err != nil {
		return nil, nil, errors.Join(err, closeAll())
	}
	if err := m.WaitReady(wctx); err != nil {
		return nil, nil, errors.Join(err, closeAll())
	}
	if cfg.SCS {
		st, err := scsstore.New(scsstore.Config{Manager: m})
		if err != nil {
			return nil, nil, errors.Join(err, closeAll())
		}
		sm := scs.New()
		sm.Store = st
		return sm.LoadAndSave(scsHandler(sm)), closeAll, nil
	}
	mw, err := delta.NewMiddleware(m, delta.HTTPConfig{})
	if err != nil {
		return nil, nil, errors.Join(err, closeAll())
	}
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := delta.FromContext(r.Context())
		switch r.URL.Path {
		case "/app/counter":
			s, n, err := counter.Next(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			counterPage(w, s.ID(), n)
		case "/app/get":
			v, ok := sess.Get("counter")
			if !ok {
				http.Error(w, "no session", http.StatusNotFound)
				return
			}
			fmt.Fprintf(w, "%T|%v\n", v, v)
		default:
			http.NotFound(w, r)
		}
	})
	return mw.Wrap(page), closeAll, nil
}
