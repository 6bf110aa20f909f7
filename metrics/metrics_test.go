package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"math"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	tribestest "github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/metrics"
	"github.com/gotribes/tribes/session/delta"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, tribestest.IgnoreGnetPool()...)
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

// loop refers to itself: the walk stops there instead of recursing for ever.
type loop struct {
	N    uint64
	Next *loop
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
	NilPtr       *inner // nil: its fields are left out
	Loop         loop
	Any          any // interfaces are left out
	unexported   uint64
}

func sample() allKinds {
	return allKinds{
		embedded: embedded{Embedded: 7}, MessagesSent: 42, QueueLen: -3, Backlog: 1 << 40, Ratio: 0.5,
		Up: true, Took: 1500 * time.Millisecond, Since: time.Unix(1700000000, 0), Cache: inner{1, 2},
		ByEvent: map[event]uint64{1: 10, 2: 20}, ByName: map[string]int{`a"b\c`: 1},
		Renamed: 9, Waiting: 4, Busy: 2 * time.Second, Hidden: 99, Label: "x", Ptr: &inner{3, 4},
		Loop: loop{N: 6}, Any: uint64(8), unexported: 5,
	}
}

// gathered is what a registry gathered.
type gathered struct {
	series map[string]float64 // `name{a="x",b="y"}` (labels sorted by name) → value
	types  map[string]dto.MetricType
	help   map[string]string
}

// gather registers the collectors in a fresh pedantic registry (which also checks that
// every metric collected was described), gathers once and checks Prometheus' naming
// conventions with promlint.
func gather(t *testing.T, cs ...prometheus.Collector) *gathered {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("GatherAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	g := &gathered{series: map[string]float64{}, types: map[string]dto.MetricType{}, help: map[string]string{}}
	for _, mf := range mfs {
		name := mf.GetName()
		g.types[name], g.help[name] = mf.GetType(), mf.GetHelp()
		if !strings.HasPrefix(name, "tribes_") {
			t.Errorf("%s lacks the tribes_ prefix", name)
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				g.series[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				g.series[key] = m.GetGauge().GetValue()
			default:
				t.Errorf("%s is a %s", name, mf.GetType())
			}
		}
	}
	return g
}

func (g *gathered) names() []string {
	return slices.Sorted(func(yield func(string) bool) {
		for s := range g.series {
			if !yield(s) {
				return
			}
		}
	})
}

func seriesName(s string) string {
	name, _, _ := strings.Cut(s, "{")
	return name
}

// newSessionCluster is delta.NewCluster(cfg); an error ends the test.
func newSessionCluster(t testing.TB, cfg delta.ClusterConfig) *delta.Cluster {
	t.Helper()
	cl, err := delta.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func newCollector(t *testing.T, cfg metrics.Config) *metrics.Collector {
	t.Helper()
	c, err := metrics.NewCollector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	counterType = dto.MetricType_COUNTER
	gaugeType   = dto.MetricType_GAUGE
)

func TestFieldRules(t *testing.T) {
	g := gather(t, newCollector(t, metrics.Config{Sources: []metrics.Source{{Name: "demo", Stats: sample}}}))
	want := map[string]struct {
		typ dto.MetricType
		v   float64
	}{
		"tribes_demo_embedded_total":               {counterType, 7},
		"tribes_demo_messages_sent_total":          {counterType, 42},
		"tribes_demo_queue_len":                    {gaugeType, -3},
		"tribes_demo_backlog":                      {gaugeType, 1 << 40},
		"tribes_demo_ratio":                        {gaugeType, 0.5},
		"tribes_demo_up":                           {gaugeType, 1},
		"tribes_demo_took_seconds":                 {gaugeType, 1.5},
		"tribes_demo_since_timestamp_seconds":      {gaugeType, 1700000000},
		"tribes_demo_cache_hits_total":             {counterType, 1},
		"tribes_demo_cache_misses_total":           {counterType, 2},
		`tribes_demo_by_event_total{event="EV_1"}`: {counterType, 10},
		`tribes_demo_by_event_total{event="EV_2"}`: {counterType, 20},
		`tribes_demo_by_name{key="a\"b\\c"}`:       {gaugeType, 1},
		"tribes_demo_bytes_out_total":              {counterType, 9},
		"tribes_demo_waiting":                      {gaugeType, 4},
		"tribes_demo_busy_seconds_total":           {counterType, 2},
		"tribes_demo_ptr_hits_total":               {counterType, 3},
		"tribes_demo_ptr_misses_total":             {counterType, 4},
		"tribes_demo_loop_n_total":                 {counterType, 6},
	}
	for s, w := range want {
		v, ok := g.series[s]
		if !ok {
			t.Errorf("missing %s", s)
			continue
		}
		if v != w.v {
			t.Errorf("%s = %v, want %v", s, v, w.v)
		}
		if got := g.types[seriesName(s)]; got != w.typ {
			t.Errorf("%s is a %s, want %s", s, got, w.typ)
		}
	}
	if len(g.series) != len(want) {
		t.Errorf("%d series, want %d: %v", len(g.series), len(want), g.names())
	}
	if h := g.help["tribes_demo_bytes_out_total"]; h != "bytes written \\ out\nsecond line" {
		t.Errorf("help tag: %q", h)
	}
	if h := g.help["tribes_demo_messages_sent_total"]; h != "metrics_test.allKinds.MessagesSent" {
		t.Errorf("default help: %q", h)
	}
}

// The same numbers in the text format, as a scraper reads them.
func TestText(t *testing.T) {
	c := newCollector(t, metrics.Config{Sources: []metrics.Source{{Name: "demo", Stats: sample}}, Labels: prometheus.Labels{"node": "n1"}})
	want := `
# HELP tribes_demo_by_event_total metrics_test.allKinds.ByEvent
# TYPE tribes_demo_by_event_total counter
tribes_demo_by_event_total{event="EV_1",node="n1"} 10
tribes_demo_by_event_total{event="EV_2",node="n1"} 20
# HELP tribes_demo_took_seconds metrics_test.allKinds.Took
# TYPE tribes_demo_took_seconds gauge
tribes_demo_took_seconds{node="n1"} 1.5
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "tribes_demo_by_event_total", "tribes_demo_took_seconds"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c); n != 19 {
		t.Errorf("%d series", n)
	}
}

func TestNewCollectorErrors(t *testing.T) {
	var nilCh *channel.Channel
	type twice struct {
		Sent      uint64
		SentTotal uint64
	}
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
		{"twice", func() twice { return twice{} }},
	} {
		if _, err := metrics.NewCollector(metrics.Config{Sources: []metrics.Source{{Name: c.name, Stats: c.src}}}); err == nil {
			t.Errorf("source %q of %T accepted", c.name, c.src)
		}
	}
	src := func(labels prometheus.Labels) metrics.Source {
		return metrics.Source{Name: "x", Stats: sample, Labels: labels}
	}
	for _, cfg := range []metrics.Config{
		{Sources: []metrics.Source{src(prometheus.Labels{"__reserved": "v"})}},
		{Sources: []metrics.Source{src(nil)}, Labels: prometheus.Labels{"bad-name": "v"}},
		{Sources: []metrics.Source{src(prometheus.Labels{"node": "a"})}, Labels: prometheus.Labels{"node": "b"}},
		{SessionManagers: []*delta.Manager{nil}},
		{SessionClusters: []*delta.Cluster{nil}},
	} {
		if _, err := metrics.NewCollector(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
	_, err := metrics.NewCollector(metrics.Config{Sources: []metrics.Source{src(prometheus.Labels{"node": "a"}), src(prometheus.Labels{"node": "a"})}})
	if !errors.Is(err, metrics.ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	// A metric has the same label names in every source: a registry refuses others.
	if _, err := metrics.NewCollector(metrics.Config{Sources: []metrics.Source{src(prometheus.Labels{"node": "a"}), src(prometheus.Labels{"node": "b", "zone": "z"})}}); err == nil {
		t.Error("label names that differ between sources accepted")
	}
	// Two label sets of one source name share the families; a map label comes besides the
	// source's, renamed if the source has a label of its name.
	mk := func() *metrics.Collector {
		return newCollector(t, metrics.Config{Sources: []metrics.Source{src(prometheus.Labels{"node": "a", "event": "e"}), src(prometheus.Labels{"node": "b", "event": "e"})}})
	}
	c := mk()
	g := gather(t, c)
	if g.series[`tribes_x_messages_sent_total{event="e",node="a"}`] != 42 || g.series[`tribes_x_messages_sent_total{event="e",node="b"}`] != 42 {
		t.Errorf("labelled series: %v", g.names())
	}
	if g.series[`tribes_x_by_event_total{event="e",key_event="EV_2",node="b"}`] != 20 {
		t.Errorf("map series: %v", g.names())
	}
	// The same sources twice in one registry are refused by the registry.
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	var are prometheus.AlreadyRegisteredError
	if err := reg.Register(mk()); !errors.As(err, &are) {
		t.Errorf("second registration: %v", err)
	}
}

// A source that returns nil, or a value of another type than at first, gives nothing.
func TestSourceChanges(t *testing.T) {
	var mu sync.Mutex
	var cur any = &inner{Hits: 1}
	c := newCollector(t, metrics.Config{Sources: []metrics.Source{{Name: "var", Stats: func() any {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}}}})
	set := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		cur = v
	}
	if got := gather(t, c).series["tribes_var_hits_total"]; got != 1 {
		t.Errorf("hits %v", got)
	}
	for _, v := range []any{(*inner)(nil), nil, embedded{Embedded: 3}} {
		set(v)
		if n := testutil.CollectAndCount(c); n != 0 {
			t.Errorf("%#v gave %d series", v, n)
		}
	}
	set(inner{Hits: 2})
	if got := gather(t, c).series["tribes_var_hits_total"]; got != 2 {
		t.Errorf("hits %v", got)
	}
}

func newThroughput(t *testing.T) *interceptors.Throughput {
	tp, err := interceptors.NewThroughput(interceptors.ThroughputConfig{Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

// startPair starts two channels on an in-memory network, the first with interceptors.
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
	df, err := interceptors.NewDomainFilter(interceptors.DomainFilterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := startPair(t, newThroughput(t), df, newThroughput(t))
	b.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
	ctx := context.Background()
	for range 5 {
		if err := a.Send(ctx, nil, []byte("hello"), channel.OptUseAck); err != nil {
			t.Fatal(err)
		}
	}
	ca := newCollector(t, metrics.Config{Channel: a, Labels: prometheus.Labels{"node": "a"}})
	cb := newCollector(t, metrics.Config{Channel: b, Labels: prometheus.Labels{"node": "b"}})
	g := gather(t, ca, cb)
	for s, v := range map[string]float64{
		`tribes_channel_messages_sent_total{node="a"}`:                           5,
		`tribes_channel_bytes_sent_total{node="a"}`:                              25,
		`tribes_channel_messages_received_total{node="b"}`:                       5,
		`tribes_channel_messages_received_total{node="a"}`:                       0,
		`tribes_channel_members{node="a"}`:                                       1,
		`tribes_channel_started_levels{node="b"}`:                                15,
		`tribes_channel_healthy{node="a"}`:                                       1,
		`tribes_interceptor_throughput_messages_tx_total{node="a",position="0"}`: 5,
		`tribes_interceptor_throughput_messages_tx_total{node="a",position="2"}`: 5,
	} {
		got, ok := g.series[s]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", s, got, ok, v)
		}
	}
	if g.types["tribes_channel_members"] != gaugeType || g.types["tribes_channel_messages_sent_total"] != counterType {
		t.Errorf("types: %v", g.types)
	}
	if ts := g.series[`tribes_interceptor_throughput_first_tx_timestamp_seconds{node="a",position="0"}`]; ts < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("throughput FirstTx %v", ts)
	}
	// channeltest has no transport or membership statistics: no such metrics.
	for s := range g.series {
		if strings.HasPrefix(s, "tribes_transport") || strings.HasPrefix(s, "tribes_membership") {
			t.Errorf("unexpected %s", s)
		}
	}
	// A collector for the same channel and labels again is refused by the registry.
	reg := prometheus.NewRegistry()
	reg.MustRegister(ca)
	if err := reg.Register(newCollector(t, metrics.Config{Channel: a, Labels: prometheus.Labels{"node": "a"}})); err == nil {
		t.Error("a second collector of the same channel and labels was registered")
	}
	// A channel with one throughput interceptor has no position label on its metrics: a
	// registry holding the one with two refuses it.
	single, _ := startPair(t, newThroughput(t))
	if err := reg.Register(newCollector(t, metrics.Config{Channel: single, Labels: prometheus.Labels{"node": "c"}})); err == nil || !strings.Contains(err.Error(), "different label names") {
		t.Errorf("interceptor metrics with other label names: %v", err)
	}
}

func TestSessions(t *testing.T) {
	a, b := startPair(t)
	ctx := context.Background()
	var ms []*delta.Manager
	var cs []prometheus.Collector
	// Both clusters exist before a manager starts, so that the first one's state transfer
	// is answered (with "no sessions here") instead of waiting for its timeout.
	cls := []*delta.Cluster{newSessionCluster(t, delta.ClusterConfig{Channel: a}), newSessionCluster(t, delta.ClusterConfig{Channel: b})}
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
		cs = append(cs, newCollector(t, metrics.Config{SessionManagers: []*delta.Manager{m}, SessionClusters: []*delta.Cluster{cl},
			Labels: prometheus.Labels{"node": fmt.Sprint("n", i)}}))
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
	g := gather(t, cs...)
	for s, v := range map[string]float64{
		`tribes_sessions_active_sessions{context="localhost#/app",node="n0"}`:                          1,
		`tribes_sessions_active_sessions{context="localhost#/app",node="n1"}`:                          1,
		`tribes_sessions_sessions_created_total{context="localhost#/app",node="n0"}`:                   1,
		`tribes_sessions_ready{context="localhost#/app",node="n1"}`:                                    1,
		`tribes_sessions_sent_total{context="localhost#/app",event="EVT_SESSION_DELTA",node="n0"}`:     1,
		`tribes_sessions_received_total{context="localhost#/app",event="EVT_SESSION_DELTA",node="n1"}`: 1,
		// A lone request does not wait for a cohort (delta.Config.AckedBatchWait).
		`tribes_sessions_batch_waits_total{context="localhost#/app",node="n0"}`:         0,
		`tribes_sessions_batch_waits_ran_out_total{context="localhost#/app",node="n0"}`: 0,
		// Nothing concurrent (delta's TestConcurrentChangesConverge counts them).
		`tribes_sessions_older_changes_skipped_total{context="localhost#/app",node="n1"}`: 0,
	} {
		if got, ok := g.series[s]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v\n%v", s, got, ok, v, g.names())
		}
	}
	if got := g.series[`tribes_session_cluster_messages_total{node="n1"}`]; got < 2 {
		t.Errorf("session cluster messages on n1: %v", got)
	}
	// The partial-partition probes' figures (delta.ClusterStats), zero without a cut.
	for _, s := range []string{`tribes_session_cluster_partial_cuts_total{node="n1"}`,
		`tribes_session_cluster_probes_requested_total{node="n1"}`, `tribes_session_cluster_probing{node="n1"}`} {
		if got, ok := g.series[s]; !ok || got != 0 {
			t.Errorf("%s = %v (present %v), want 0", s, got, ok)
		}
	}
	if g.types["tribes_sessions_transfer_duration_seconds"] != gaugeType {
		t.Errorf("transfer duration type %v", g.types["tribes_sessions_transfer_duration_seconds"])
	}
}

// TestPublishExpvarRacesDirectPublish: a name published directly in expvar by other code
// between PublishExpvar's check and its publication gives ErrExpvarTaken too, not
// expvar's panic (which only the direct expvar.Publish may get).
func TestPublishExpvarRacesDirectPublish(t *testing.T) {
	c := newCollector(t, metrics.Config{})
	publishRaceRuns++
	for i := range 5000 {
		name := fmt.Sprintf("tribes_metrics_direct_race_%d_%d", publishRaceRuns, i)
		start := make(chan struct{})
		var wg sync.WaitGroup
		var panicked atomic.Value
		var ok atomic.Int32
		wg.Go(func() {
			defer func() {
				if recover() == nil {
					ok.Add(1)
				}
			}()
			<-start
			expvar.Publish(name, new(expvar.Int))
		})
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					panicked.Store(fmt.Sprint(r))
				}
			}()
			<-start
			err := c.PublishExpvar(name)
			if err == nil {
				ok.Add(1)
			} else if !errors.Is(err, metrics.ErrExpvarTaken) {
				t.Errorf("attempt %d: err = %v, want ErrExpvarTaken", i, err)
			}
		})
		close(start)
		wg.Wait()
		if p := panicked.Load(); p != nil {
			t.Fatalf("attempt %d: PublishExpvar(%q) panicked: %v", i, name, p)
		}
		if ok.Load() != 1 {
			t.Fatalf("attempt %d: %d publications, want 1", i, ok.Load())
		}
	}
}

// TestTwoSessionClusters: Config.SessionClusters is a list; two clusters (a process with
// two channels, one collector) are both reported, each labelled with its position in the
// list, and the same cluster twice is refused.
func TestTwoSessionClusters(t *testing.T) {
	a, b := startPair(t)
	cls := []*delta.Cluster{newSessionCluster(t, delta.ClusterConfig{Channel: a}), newSessionCluster(t, delta.ClusterConfig{Channel: b})}
	for _, cl := range cls {
		t.Cleanup(func() { _ = cl.Close(context.Background()) })
	}
	c, err := metrics.NewCollector(metrics.Config{SessionClusters: cls})
	if err != nil {
		t.Fatalf("NewCollector with two session clusters: %v", err)
	}
	if n := len(c.Snapshot()); n != 2 {
		t.Fatalf("%d sources, want one per cluster", n)
	}
	g := gather(t, c)
	for _, s := range []string{`tribes_session_cluster_messages_total{position="0"}`, `tribes_session_cluster_messages_total{position="1"}`} {
		if _, ok := g.series[s]; !ok {
			t.Errorf("no %s: %v", s, g.names())
		}
	}
	if _, err := metrics.NewCollector(metrics.Config{SessionClusters: []*delta.Cluster{cls[0], cls[1], cls[0]}}); !errors.Is(err, metrics.ErrDuplicate) {
		t.Errorf("the same cluster twice: err = %v, want ErrDuplicate", err)
	}
}

// A scrape over HTTP through promhttp, as Prometheus does it.
func TestScrape(t *testing.T) {
	a, _ := startPair(t)
	for range 3 {
		if err := a.Send(context.Background(), nil, []byte("x"), channel.OptUseAck); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(t, metrics.Config{Channel: a, Labels: prometheus.Labels{"node": "a"}}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	want := `
# HELP tribes_channel_members members known now (the chain's view, the local member excluded)
# TYPE tribes_channel_members gauge
tribes_channel_members{node="a"} 1
# HELP tribes_channel_messages_sent_total channel.Stats.MessagesSent
# TYPE tribes_channel_messages_sent_total counter
tribes_channel_messages_sent_total{node="a"} 3
`
	if err := testutil.ScrapeAndCompare(srv.URL, strings.NewReader(want), "tribes_channel_members", "tribes_channel_messages_sent_total"); err != nil {
		t.Error(err)
	}
	srv.CloseClientConnections()
}

var expvarRuns int

func TestExpvar(t *testing.T) {
	a, _ := startPair(t, newThroughput(t))
	if err := a.Send(context.Background(), nil, []byte("x"), channel.OptUseAck); err != nil {
		t.Fatal(err)
	}
	c := newCollector(t, metrics.Config{Channel: a, Sources: []metrics.Source{{Name: "demo", Stats: sample, Labels: prometheus.Labels{"node": "a"}}}})
	// expvar names are process-global: a fresh name per run keeps -count=N working.
	expvarRuns++
	name := fmt.Sprintf("tribes_metrics_test_%d", expvarRuns)
	if err := c.PublishExpvar(name); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishExpvar(name); !errors.Is(err, metrics.ErrExpvarTaken) {
		t.Errorf("publishing the same name twice: err = %v, want ErrExpvarTaken", err)
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

type ratio struct {
	HitRatio float64
	Sent     uint64
}

// TestExpvarNonFiniteFloats: a float gauge may be NaN or ±Inf (a ratio of nothing yet);
// Prometheus takes it, and the expvar form must still be JSON (expvar.Func would write
// nothing for a value encoding/json refuses, breaking the whole /debug/vars document):
// Snapshot gives such a float as the string "NaN", "+Inf" or "-Inf".
func TestExpvarNonFiniteFloats(t *testing.T) {
	for v, want := range map[float64]string{math.NaN(): "NaN", math.Inf(1): "+Inf", math.Inf(-1): "-Inf"} {
		c := newCollector(t, metrics.Config{Sources: []metrics.Source{{Name: "app", Stats: func() ratio {
			return ratio{HitRatio: v, Sent: 1}
		}}}})
		s := c.Var().String()
		var out map[string]map[string]any
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Errorf("HitRatio %v: expvar value %q is not JSON: %v", v, s, err)
			continue
		}
		if app := out["app"]; app["HitRatio"] != want || app["Sent"] != 1.0 {
			t.Errorf("HitRatio %v: expvar value %s, want HitRatio %q and Sent 1", v, s, want)
		}
	}
}

// TestExpvarUnencodable: should a snapshot not encode at all (a time past year 9999,
// which encoding/json refuses), the expvar value is still JSON, an object saying why.
func TestExpvarUnencodable(t *testing.T) {
	type far struct{ Until time.Time }
	c := newCollector(t, metrics.Config{Sources: []metrics.Source{{Name: "app", Stats: func() far {
		return far{Until: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	}}}})
	s := c.Var().String()
	var out map[string]string
	if err := json.Unmarshal([]byte(s), &out); err != nil || !strings.Contains(out["error"], "year") {
		t.Errorf("expvar value %q (%v), want an object with the error", s, err)
	}
}

// publishRaceRuns makes TestPublishExpvarConcurrent's names fresh per run (-count=N).
var publishRaceRuns int

// TestPublishExpvarConcurrent: the Collector is safe for concurrent use and PublishExpvar
// gives an error for a name already taken. Two concurrent calls with one name must give
// one success and one ErrExpvarTaken, never expvar's panic ("Reuse of exported var
// name"). The window is small, so the test tries a bounded number of fresh names and
// stops at the first failure.
func TestPublishExpvarConcurrent(t *testing.T) {
	c := newCollector(t, metrics.Config{})
	publishRaceRuns++
	// Without the fix a panic came within 700 attempts (2026, 2 cores); expvar's sorted
	// names make each attempt dearer as they grow, so 5000 keeps the test about a second
	// or two under -race.
	for i := range 5000 {
		name := fmt.Sprintf("tribes_metrics_publish_race_%d_%d", publishRaceRuns, i)
		start := make(chan struct{})
		var wg sync.WaitGroup
		var panicked atomic.Value
		var errs atomic.Int32
		for range 2 {
			wg.Go(func() {
				defer func() {
					if r := recover(); r != nil {
						panicked.Store(fmt.Sprint(r))
					}
				}()
				<-start
				if err := c.PublishExpvar(name); err != nil {
					if !errors.Is(err, metrics.ErrExpvarTaken) {
						t.Errorf("attempt %d: err = %v, want ErrExpvarTaken", i, err)
					}
					errs.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if p := panicked.Load(); p != nil {
			t.Fatalf("attempt %d: concurrent PublishExpvar(%q) panicked: %v", i, name, p)
		}
		if errs.Load() != 1 {
			t.Fatalf("attempt %d: %d errors, want 1", i, errs.Load())
		}
	}
}

// Gathers while messages flow: the race detector checks the sources are read safely.
func TestConcurrentGather(t *testing.T) {
	a, b := startPair(t, newThroughput(t))
	b.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
	c := newCollector(t, metrics.Config{Channel: a})
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
					return
				}
				_ = c.Snapshot()
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
	if got := gather(t, c).series["tribes_channel_messages_sent_total"]; got != 200 {
		t.Errorf("messages sent %v", got)
	}
}

// Every interceptor's metrics follow Prometheus' naming conventions (gather lints them).
func TestEveryInterceptorLints(t *testing.T) {
	n := channeltest.NewNetwork().NewNode()
	for _, name := range interceptors.Names() {
		spec := name
		if name == "encrypt" {
			spec = "encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f)"
		}
		ics, err := interceptors.Build(spec, nil)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), Interceptors: ics})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		t.Run(name, func(t *testing.T) {
			g := gather(t, newCollector(t, metrics.Config{Channel: ch}))
			if _, ok := g.series["tribes_channel_members"]; !ok {
				t.Errorf("no channel metrics: %v", g.names())
			}
		})
	}
}

// TestPluralAcronymName: a field's metric name is the field's name in snake case, a
// plural acronym being one word: EncryptStats.RememberedIVs is
// tribes_interceptor_encrypt_remembered_ivs (not remembered_i_vs).
func TestPluralAcronymName(t *testing.T) {
	ics, err := interceptors.Build("encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f)", nil)
	if err != nil {
		t.Fatal(err)
	}
	n := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership(), Interceptors: ics})
	if err != nil {
		t.Fatal(err)
	}
	g := gather(t, newCollector(t, metrics.Config{Channel: ch}))
	if _, ok := g.series["tribes_interceptor_encrypt_remembered_ivs"]; !ok {
		var enc []string
		for _, s := range g.names() {
			if strings.HasPrefix(s, "tribes_interceptor_encrypt_") {
				enc = append(enc, s)
			}
		}
		t.Fatalf("no tribes_interceptor_encrypt_remembered_ivs; the encrypt series are %v", enc)
	}
}
