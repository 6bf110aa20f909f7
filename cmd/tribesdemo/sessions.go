package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gotribes/tribes/internal/counter"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// runSessions runs one node of a replicated web application: a page whose session keeps
// a visit counter, served behind the session/delta middleware. Start several with
// different --port, --http and --route and the same --static list, put a load balancer
// (or your browser, switching ports) in front, and the counter survives moving between
// nodes and killing them.
func runSessions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf nodeFlags
	nf.register(fs, 0)
	httpAddr := fs.String("http", "127.0.0.1:8080", "address of the web application")
	route := fs.String("route", "node1", "jvmRoute: suffix of the session ids this node creates")
	acked := fs.Bool("acked", true, "answer only after every member applied the session change (false: asynchronous, Tomcat's default)")
	clusterSize := fs.Int("cluster-size", 0, "with --acked, answer only when a majority of this many nodes (this one included) hold the change, so that nodes cut off from the majority by a partition refuse changes and serve no session (delta.Config.ClusterSize; 0: none)")
	requireAll := fs.Bool("require-all", false, "with --acked, fail requests while a configured member is down (by default members refusing connections are skipped: static membership has no failure detection)")
	app := fs.String("context", "localhost#/", "application (context) name; the same on every node")
	codec := fs.String("codec", "go", "session message format: go (compact, Go nodes only) or java (Tomcat's DeltaManager format; the counter is a java.lang.Integer named counter)")
	ctxPath := fs.String("path", "", "context path the page is served under, and the session cookie's Path, as Tomcat's (e.g. /app beside Tomcat nodes serving /app, so that a client holds one JSESSIONID cookie); empty: / (delta.HTTPConfig.CookiePath)")
	routeBinder := fs.Bool("route-binder", true, "rename a session to this node's --route when a request brings another node's (Tomcat's JvmRouteBinderValve); turn off behind a balancer without stickiness, and beside Tomcat nodes without jvmRoute")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tribesdemo sessions [flags]\n\nServes a page with a per-session counter, replicated to the other members;\n?format=json gives the same as JSON; /logout invalidates the session on every node.\nPrints a JSON line when started and stopped.\n\n"+
			"Beside Tomcat 10.1 DeltaManager nodes serving /app: --codec java --context 'localhost#/app' --path /app\n"+
			"--static-protocol --route-binder=false, and Tomcat's Engine without jvmRoute or\n"+
			"JvmRouteBinderValve, so a session keeps its id on both sides (docs/tomcat.md).")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if p := *ctxPath; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "{} ;,")) {
		return fmt.Errorf("%w: --path %q: want a context path such as /app (no trailing slash), or none", errUsage, p)
	}
	if *clusterSize < 0 || *clusterSize > 0 && !*acked {
		return fmt.Errorf("%w: --cluster-size needs --acked and is at least 0", errUsage)
	}
	limit, err := nf.limit()
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if nf.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ccfg := delta.ClusterConfig{Logger: log}
	var values delta.ValueCodec
	switch *codec {
	case "go":
	case "java":
		ccfg.Codec, values = javaCodec(nf.maxFrameSize), delta.JavaValueCodec{}
	default:
		return fmt.Errorf("%w: --codec %q: want go or java", errUsage, *codec)
	}
	ch, err := nf.build(stderr)
	if err != nil {
		return err
	}
	mode := delta.ReplicateAsync
	if *acked {
		mode = delta.ReplicateAcked
	}
	ccfg.Channel = ch
	cl, err := delta.NewCluster(ccfg)
	if err != nil {
		return err
	}
	m, err := cl.NewManager(delta.Config{Name: *app, JvmRoute: *route, Replication: mode,
		TolerateUnreachable: !*requireAll, ClusterSize: *clusterSize, Logger: log, Codec: values})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	mw, err := delta.NewMiddleware(m, delta.HTTPConfig{SkipPath: regexp.MustCompile(`^/(favicon\.ico|healthz)$`),
		DisableJvmRouteBinder: !*routeBinder, CookiePath: *ctxPath})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	defer ln.Close()

	ctx, cancel := withLimit(ctx, limit)
	defer cancel()
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		return err
	}
	stop := func() error {
		sctx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		return errors.Join(cl.Close(sctx), ch.Stop(sctx, channel.SvcAll))
	}
	if err := m.Start(ctx); err != nil {
		return errors.Join(err, stop())
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", healthz(ch.Health, m.Ready))
	mux.Handle(*ctxPath+"/", mw.Wrap(sessionPage(ch, m, *ctxPath)))
	mux.Handle(*ctxPath+"/logout", mw.Wrap(http.HandlerFunc(logout)))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	out := newLineWriter(stdout)
	out.emit(map[string]any{"event": "started", "url": "http://" + ln.Addr().String() + *ctxPath + "/", "route": *route,
		"context": *app, "replication": mode.String(), "member": toJSON(ch.LocalMember())})
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		if err := m.WaitReady(ctx); err != nil && ctx.Err() == nil {
			out.emit(map[string]any{"event": "state-transfer-failed", "error": err.Error()})
			return
		}
		if ctx.Err() == nil {
			st := m.Stats()
			out.emit(map[string]any{"event": "ready", "sessions": st.ActiveSessions, "transferred": st.SessionsTransferred,
				"donor": st.TransferDonor, "attempts": st.TransferAttempts, "noManager": st.TransferNoManager,
				"declined": st.TransferDeclined, "memberWaitMs": st.MemberWait.Milliseconds()})
		}
	}()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	cancel()
	<-readyDone
	sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
	defer c()
	if err := srv.Shutdown(sctx); err == nil && serveErr == nil {
		<-served
	}
	st := m.Stats()
	err = stop()
	out.emit(map[string]any{"event": "stopped", "sessionsCreated": st.SessionsCreated,
		"deltasSent": st.Sent[delta.EventDelta], "deltasReceived": st.Received[delta.EventDelta],
		"nonMemberDropped": ch.Stats().NonMemberDropped, "refusedNonMember": cl.Stats().RefusedNonMember})
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, err)
}

// pageData is what the page shows, and its JSON form.
type pageData struct {
	Node      string `json:"node"`
	Route     string `json:"route"`
	SessionID string `json:"sessionId"`
	Counter   int    `json:"counter"`
	Created   string `json:"createdOn"`
	New       bool   `json:"new"`
	Members   int    `json:"members"`
	Sessions  int    `json:"sessions"`
	Path      string `json:"-"` // the context path, --path
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Tribes sessions: {{.Route}}</title>
<style>body{font-family:sans-serif;margin:2em}td{padding:.2em 1em .2em 0}code{font-size:1.1em}</style></head>
<body><h1>Visit {{.Counter}}</h1>
<table>
<tr><td>served by</td><td><code>{{.Node}}</code> (jvmRoute <code>{{.Route}}</code>)</td></tr>
<tr><td>session id</td><td><code>{{.SessionID}}</code></td></tr>
<tr><td>session created on</td><td><code>{{.Created}}</code>{{if .New}} (new){{end}}</td></tr>
<tr><td>other members</td><td>{{.Members}}</td></tr>
<tr><td>sessions on this node</td><td>{{.Sessions}}</td></tr>
</table>
<p><a href="{{.Path}}/">reload</a> · <a href="{{.Path}}/?format=json">JSON</a></p>
</body></html>
`))

func sessionPage(ch *channel.Channel, m *delta.Manager, path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path+"/" {
			http.NotFound(w, r)
			return
		}
		s, count, err := counter.Next(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		created, ok := delta.Attr[string](s, "createdOn")
		if !ok {
			created = m.JvmRoute()
			_ = s.Set("createdOn", created)
		}
		d := pageData{Node: ch.LocalMember().Addr(), Route: m.JvmRoute(), SessionID: s.ID(), Counter: count,
			Created: created, New: s.IsNew(), Members: len(ch.Members()), Sessions: m.Len(), Path: path}
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(d)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = pageTemplate.Execute(w, d)
	})
}

// logout invalidates the request's session on every node: 200 when the cluster
// acknowledged it (or there was none), 503 when it could not (a node without the quorum).
func logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := delta.FromContext(r.Context()).Invalidate(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "logged out")
}

// javaCodec is the Java codec of a node whose frames may reach maxFrame bytes (0: the
// transport's default): above jserial's defaults, its stream limits follow, so that a
// message the transport accepts (Tomcat's transfer of every session in one message) is
// not refused by the decoder.
func javaCodec(maxFrame int) delta.JavaCodec {
	return delta.JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: max(int64(maxFrame), jserial.DefaultMaxBytes)}}
}

// healthz answers a balancer's health check: 503 while the channel reports a failure
// (health, Channel.Health: a receiver restarting after descriptor exhaustion, say) or the
// session manager is not ready (ready, Manager.Ready), else 200 "ok".
func healthz(health func() error, ready func() bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if err := health(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if !ready() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}
