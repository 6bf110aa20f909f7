package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/metrics"
	"github.com/gotribes/tribes/session/delta"
)

// noKeepAlive is an HTTP client that leaves no idle connection (and goroutine) behind.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}

// event is a key type with a String method, as delta.Event.
type event int

func (e event) String() string { return fmt.Sprintf("EV_%d", int(e)) }

type inner struct {
	Hits   uint64
	Misses uint64
}

type embedded struct {
	Embedded uint64
}

type allKinds struct {
	embedded
	MessagesSent uint64
	QueueLen     int
	Backlog      int64
	Ratio        float64
	Up           bool
	Took         time.Duration
	Since        time.Time
	Never        time.Time // zero: left out
	Cache        inner
	ByEvent      map[event]uint64
	ByName       map[string]int
	Renamed      uint64        `metrics:"bytes_out,counter" help:"bytes written \\ out\nsecond line"`
	Waiting      uint64        `metrics:",gauge"`
	Busy         time.Duration `metrics:",counter"`
	Hidden       uint64        `metrics:"-"`
	Label        string        // not a number: left out
	Ptr          *inner
	NilPtr       *inner
	unexported   uint64
}

func sample() allKinds {
	return allKinds{
		embedded: embedded{Embedded: 7}, MessagesSent: 42, QueueLen: -3, Backlog: 1 << 40, Ratio: 0.5,
		Up: true, Took: 1500 * time.Millisecond, Since: time.Unix(1700000000, 0), Cache: inner{1, 2},
		ByEvent: map[event]uint64{1: 10, 2: 20}, ByName: map[string]int{`a"b\c`: 1},
		Renamed: 9, Waiting: 4, Busy: 2 * time.Second, Hidden: 99, Label: "x", Ptr: &inner{3, 4}, unexported: 5,
	}
}

func scrape(t *testing.T, r *metrics.Registry) *exposition {
	t.Helper()
	var b bytes.Buffer
	if err := r.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	e, err := parseExposition(b.String())
	if err != nil {
		t.Fatalf("invalid exposition: %v\n%s", err, b.String())
	}
	for name, typ := range e.types {
		if _, ok := e.help[name]; !ok {
			t.Errorf("%s has no HELP", name)
		}
		if typ == "counter" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if !strings.HasPrefix(name, "tribes_") {
			t.Errorf("%s lacks the tribes_ prefix", name)
		}
	}
	for s := range e.series {
		if _, ok := e.types[seriesName(s)]; !ok {
			t.Errorf("series %s has no TYPE", s)
		}
	}
	return e
}

func TestFieldRules(t *testing.T) {
	r := metrics.NewRegistry()
	if err := r.Register("demo", sample); err != nil {
		t.Fatal(err)
	}
	e := scrape(t, r)
	want := map[string]struct {
		typ string
		v   float64
	}{
		"tribes_demo_embedded_total":               {"counter", 7},
		"tribes_demo_messages_sent_total":          {"counter", 42},
		"tribes_demo_queue_len":                    {"gauge", -3},
		"tribes_demo_backlog":                      {"gauge", 1 << 40},
		"tribes_demo_ratio":                        {"gauge", 0.5},
		"tribes_demo_up":                           {"gauge", 1},
		"tribes_demo_took_seconds":                 {"gauge", 1.5},
		"tribes_demo_since_timestamp_seconds":      {"gauge", 1700000000},
		"tribes_demo_cache_hits_total":             {"counter", 1},
		"tribes_demo_cache_misses_total":           {"counter", 2},
		`tribes_demo_by_event_total{event="EV_1"}`: {"counter", 10},
		`tribes_demo_by_event_total{event="EV_2"}`: {"counter", 20},
		`tribes_demo_by_name{key="a\"b\\c"}`:       {"gauge", 1},
		"tribes_demo_bytes_out_total":              {"counter", 9},
		"tribes_demo_waiting":                      {"gauge", 4},
		"tribes_demo_busy_seconds_total":           {"counter", 2},
		"tribes_demo_ptr_hits_total":               {"counter", 3},
		"tribes_demo_ptr_misses_total":             {"counter", 4},
	}
	for s, w := range want {
		v, ok := e.series[s]
		if !ok {
			t.Errorf("missing %s", s)
			continue
		}
		if v != w.v {
			t.Errorf("%s = %v, want %v", s, v, w.v)
		}
		if got := e.types[seriesName(s)]; got != w.typ {
			t.Errorf("%s is a %s, want %s", s, got, w.typ)
		}
	}
	if len(e.series) != len(want) {
		t.Errorf("%d series, want %d: %v", len(e.series), len(want), e.order)
	}
	if h := e.help["tribes_demo_bytes_out_total"]; h != "bytes written \\ out\nsecond line" {
		t.Errorf("help tag: %q", h)
	}
	if h := e.help["tribes_demo_messages_sent_total"]; h != "metrics_test.allKinds.MessagesSent" {
		t.Errorf("default help: %q", h)
	}
}

func TestRegisterErrors(t *testing.T) {
	r := metrics.NewRegistry()
	var nilCh *channel.Channel
	for _, c := range []struct {
		name string
		src  any
	}{
		{"Bad-Name", sample},
		{"", sample},
		{"nil", nil},
		{"nilfunc", (func() inner)(nil)},
		{"nilptr", nilCh},
		{"notstruct", func() int { return 1 }},
		{"args", func(int) inner { return inner{} }},
		{"plain", inner{}},
		{"badtag", func() struct {
			X uint64 `metrics:",histogram"`
		} {
			return struct {
				X uint64 `metrics:",histogram"`
			}{}
		}},
	} {
		if err := r.Register(c.name, c.src); err == nil {
			t.Errorf("Register(%q, %T) accepted", c.name, c.src)
		}
	}
	if err := r.Register("x", sample, metrics.L("__reserved", "v")); err == nil {
		t.Error("reserved label name accepted")
	}
	if err := r.Register("x", sample, metrics.L("a", "1"), metrics.L("a", "2")); err == nil {
		t.Error("repeated label accepted")
	}
	if err := r.Register("x", sample, metrics.L("node", "a")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("x", sample, metrics.L("node", "a")); !errors.Is(err, metrics.ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	if err := r.Register("x", sample, metrics.L("node", "b")); err != nil {
		t.Errorf("other labels: %v", err)
	}
	if got := r.Sources(); strings.Join(got, " ") != `x{node="a"} x{node="b"}` {
		t.Errorf("Sources = %q", got)
	}
	if !r.Unregister("x", metrics.L("node", "a")) || r.Unregister("x", metrics.L("node", "a")) {
		t.Error("Unregister")
	}
	// Two label sets of one source name share the families: one HELP and TYPE each.
	if err := r.Register("x", sample, metrics.L("node", "a")); err != nil {
		t.Fatal(err)
	}
	e := scrape(t, r)
	if e.series[`tribes_x_messages_sent_total{node="a"}`] != 42 || e.series[`tribes_x_messages_sent_total{node="b"}`] != 42 {
		t.Errorf("labelled series: %v", e.order)
	}
	if _, ok := e.series[`tribes_x_by_event_total{event="EV_1",node="a"}`]; ok {
		t.Error("map label should come after the source labels")
	}
	if _, ok := e.series[`tribes_x_by_event_total{node="a",event="EV_1"}`]; !ok {
		t.Errorf("map series with source labels missing: %v", e.order)
	}
}

// startPair starts two channels on an in-memory network, the first with interceptors.
func newThroughput(t *testing.T) *interceptors.Throughput {
	tp, err := interceptors.NewThroughput(interceptors.ThroughputConfig{Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func startPair(t *testing.T, ics ...channel.Interceptor) (a, b *channel.Channel) {
	t.Helper()
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var chans []*channel.Channel
	for i := range 2 {
		n := nw.NewNode()
		cfg := channel.Config{Transport: n.Transport(), Membership: n.Membership(), HeartbeatInterval: -1}
		if i == 0 {
			cfg.Interceptors = ics
		}
		ch, err := channel.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ch.Stop(context.Background(), channel.SvcAll) })
		chans = append(chans, ch)
	}
	return chans[0], chans[1]
}

func TestChannel(t *testing.T) {
	tp1 := newThroughput(t)
	tp2 := newThroughput(t)
	df, err := interceptors.NewDomainFilter(interceptors.DomainFilterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := startPair(t, tp1, df, tp2)
	b.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
	ctx := context.Background()
	for range 5 {
		if err := a.Send(ctx, nil, []byte("hello"), channel.OptUseAck); err != nil {
			t.Fatal(err)
		}
	}
	r := metrics.NewRegistry()
	if err := r.RegisterChannel(a, metrics.L("node", "a")); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterChannel(b, metrics.L("node", "b")); err != nil {
		t.Fatal(err)
	}
	if err := r.RegisterChannel(b, metrics.L("node", "b")); !errors.Is(err, metrics.ErrDuplicate) {
		t.Fatalf("second registration: %v", err)
	}
	e := scrape(t, r)
	for s, v := range map[string]float64{
		`tribes_channel_messages_sent_total{node="a"}`:                           5,
		`tribes_channel_bytes_sent_total{node="a"}`:                              25,
		`tribes_channel_messages_received_total{node="b"}`:                       5,
		`tribes_channel_members{node="a"}`:                                       1,
		`tribes_channel_started_levels{node="b"}`:                                15,
		`tribes_channel_healthy{node="a"}`:                                       1,
		`tribes_interceptor_throughput_messages_tx_total{node="a",position="0"}`: 5,
		`tribes_interceptor_throughput_messages_tx_total{node="a",position="2"}`: 5,
	} {
		got, ok := e.series[s]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", s, got, ok, v)
		}
	}
	if e.types["tribes_channel_members"] != "gauge" || e.types["tribes_channel_messages_sent_total"] != "counter" {
		t.Errorf("types: %v", e.types)
	}
	if _, ok := e.series[`tribes_interceptor_throughput_first_tx_timestamp_seconds{node="a",position="0"}`]; !ok {
		t.Error("throughput FirstTx missing")
	}
	// channeltest has no transport or membership statistics: no such sources.
	for _, s := range r.Sources() {
		if strings.HasPrefix(s, "transport") || strings.HasPrefix(s, "membership") {
			t.Errorf("unexpected source %s", s)
		}
	}
}

func TestSessions(t *testing.T) {
	a, b := startPair(t)
	ctx := context.Background()
	var ms []*delta.Manager
	r := metrics.NewRegistry()
	// Both clusters exist before a manager starts, so that the first one's state transfer
	// is answered (with "no sessions here") instead of waiting for its timeout.
	cls := []*delta.Cluster{delta.NewCluster(a, delta.ClusterConfig{}), delta.NewCluster(b, delta.ClusterConfig{})}
	for i, cl := range cls {
		m, err := cl.NewManager(delta.Config{Name: "localhost#/app", JvmRoute: fmt.Sprint("n", i), Replication: delta.ReplicateAcked})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close(context.Background()) })
		node := metrics.L("node", fmt.Sprint("n", i))
		if err := r.RegisterSessionManager(m, node); err != nil {
			t.Fatal(err)
		}
		if err := r.RegisterSessionCluster(cl, node); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	s, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("counter", 1); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	e := scrape(t, r)
	for s, v := range map[string]float64{
		`tribes_sessions_active_sessions{context="localhost#/app",node="n0"}`:                          1,
		`tribes_sessions_active_sessions{context="localhost#/app",node="n1"}`:                          1,
		`tribes_sessions_sessions_created_total{context="localhost#/app",node="n0"}`:                   1,
		`tribes_sessions_ready{context="localhost#/app",node="n1"}`:                                    1,
		`tribes_sessions_sent_total{context="localhost#/app",node="n0",event="EVT_SESSION_DELTA"}`:     1,
		`tribes_sessions_received_total{context="localhost#/app",node="n1",event="EVT_SESSION_DELTA"}`: 1,
	} {
		if got, ok := e.series[s]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v\n%v", s, got, ok, v, e.order)
		}
	}
	if got := e.series[`tribes_session_cluster_messages_total{node="n1"}`]; got < 2 {
		t.Errorf("session cluster messages on n1: %v", got)
	}
	if e.types["tribes_sessions_transfer_duration_seconds"] != "gauge" {
		t.Errorf("transfer duration type %q", e.types["tribes_sessions_transfer_duration_seconds"])
	}
}

func TestHandler(t *testing.T) {
	r := metrics.NewRegistry()
	if err := r.Register("demo", sample); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := noKeepAlive.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != metrics.ContentType {
		t.Fatalf("GET: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if _, err := parseExposition(string(body)); err != nil {
		t.Fatalf("GET body: %v\n%s", err, body)
	}
	resp, err = noKeepAlive.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
}

var expvarRuns int

func TestExpvar(t *testing.T) {
	a, _ := startPair(t, newThroughput(t))
	if err := a.Send(context.Background(), nil, []byte("x"), channel.OptUseAck); err != nil {
		t.Fatal(err)
	}
	r := metrics.NewRegistry()
	if err := r.RegisterChannel(a); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("demo", sample, metrics.L("node", "a")); err != nil {
		t.Fatal(err)
	}
	// expvar names are process-global: a fresh name per run keeps -count=N working.
	expvarRuns++
	name := fmt.Sprintf("tribes_metrics_test_%d", expvarRuns)
	if err := r.PublishExpvar(name); err != nil {
		t.Fatal(err)
	}
	if err := r.PublishExpvar(name); err == nil {
		t.Error("publishing the same name twice succeeded")
	}
	rec := httptest.NewRecorder()
	expvar.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/vars", nil))
	var all map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &all); err != nil {
		t.Fatalf("expvar output: %v", err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(all[name], &got); err != nil {
		t.Fatalf("%s: %v: %s", name, err, all[name])
	}
	ch := got["channel"]
	if ch["MessagesSent"] != 1.0 || ch["Members"] != 1.0 || ch["MessagesReceived"] != 0.0 {
		t.Errorf("channel: %v", ch)
	}
	if tp := got["interceptor_throughput"]; tp["MessagesTx"] != 1.0 {
		t.Errorf("interceptor_throughput: %v", tp)
	}
	demo := got[`demo{node="a"}`]
	if demo["MessagesSent"] != 42.0 || demo["Took"] != float64(1500*time.Millisecond) || demo["Up"] != true {
		t.Errorf("demo: %v", demo)
	}
	if c, _ := demo["Cache"].(map[string]any); c["Misses"] != 2.0 {
		t.Errorf("nested struct: %v", demo["Cache"])
	}
	if m, _ := demo["ByEvent"].(map[string]any); m["EV_2"] != 20.0 {
		t.Errorf("map: %v", demo["ByEvent"])
	}
	if _, ok := demo["Hidden"]; ok {
		t.Error("Hidden field exported")
	}
}

func TestServe(t *testing.T) {
	r := metrics.NewRegistry()
	if err := r.Register("demo", sample); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ServeListener(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	for _, path := range []string{"/metrics", "/debug/vars", "/"} {
		resp, err := noKeepAlive.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s", path, resp.Status)
		}
		if path == "/metrics" && !strings.Contains(string(body), "tribes_demo_messages_sent_total 42\n") {
			t.Errorf("/metrics: %s", body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeListener: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeListener did not return")
	}
	if err := r.Serve(context.Background(), "127.0.0.1:-1"); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
}

// Scrapes while messages flow: the race detector checks the sources are read safely.
func TestConcurrentScrape(t *testing.T) {
	a, b := startPair(t, newThroughput(t))
	b.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
	r := metrics.NewRegistry()
	if err := r.RegisterChannel(a); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = r.WritePrometheus(io.Discard)
				_ = r.Snapshot()
			}
		}
	})
	for range 200 {
		if err := a.Send(context.Background(), nil, []byte("x"), channel.OptUseAck); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
	if got := scrape(t, r).series["tribes_channel_messages_sent_total"]; got != 200 {
		t.Errorf("messages sent %v", got)
	}
}
