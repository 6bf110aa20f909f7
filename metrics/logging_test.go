package metrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/metrics"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// recorder is a slog.Handler keeping every record, at every level.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) snapshot() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record(nil), r.recs...)
}

// nioNode is a channel on the real TCP transport with static membership, an interceptor
// stack and every logger at Debug.
type nioNode struct {
	ch  *channel.Channel
	mbr *static.Service
}

func startNioNode(t *testing.T, log *slog.Logger) *nioNode {
	t.Helper()
	tcfg := nio.DefaultConfig()
	tcfg.Port = 0
	n := &nioNode{}
	var err error
	n.ch, err = node.New(node.Config{Transport: &tcfg, Logger: log,
		Interceptors: "throughput,order,fragmentation,domain,tcpfailure"})
	if err != nil {
		t.Fatal(err)
	}
	n.mbr = n.ch.Membership().(*static.Service)
	if err := n.ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.ch.Stop(ctx, channel.SvcAll)
	})
	return n
}

// TestNoPerMessageLogging runs two nodes over TCP with an interceptor stack and session
// replication, every logger at Debug, sends a few hundred messages in each ack mode and
// serves a few hundred session requests: the logs must hold lifecycle and membership
// records at Info, and nothing whose number grows with the messages. The transport's and
// interceptors' statistics must show up in the registry meanwhile.
func TestNoPerMessageLogging(t *testing.T) {
	rec := &recorder{}
	log := slog.New(rec)
	a, b := startNioNode(t, log), startNioNode(t, log)
	if err := a.mbr.Add(context.Background(), b.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}
	if err := b.mbr.Add(context.Background(), a.ch.LocalMember()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The failure detector announces a member once it answered a probe.
	testutil.EventuallyTrue(t, 60*time.Second, "the nodes see each other", func() bool {
		return a.ch.HasMembers() && b.ch.HasMembers()
	})
	clA, clB := newSessionCluster(t, delta.ClusterConfig{Channel: a.ch, Logger: log}), newSessionCluster(t, delta.ClusterConfig{Channel: b.ch, Logger: log})
	defer clA.Close(context.Background())
	defer clB.Close(context.Background())
	var ms []*delta.Manager
	for i, cl := range []*delta.Cluster{clA, clB} {
		m, err := cl.NewManager(delta.Config{Name: "localhost#/", JvmRoute: fmt.Sprint("n", i),
			Replication: delta.ReplicateAcked, Logger: log, SkipStateTransfer: i == 0})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	b.ch.AddMessageListener(channel.MessageListenerFunc(func(*channel.Message) error { return nil }))
	const perMode = 200
	for _, opts := range []channel.SendOptions{0, channel.OptUseAck, channel.OptUseAck | channel.OptSyncAck} {
		for range perMode {
			if err := a.ch.Send(ctx, nil, []byte("payload"), opts); err != nil {
				t.Fatalf("send %v: %v", opts, err)
			}
		}
	}
	mw, err := delta.NewMiddleware(ms[0], delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := delta.FromContext(r.Context()).GetOrCreate()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		n, _ := delta.Attr[int](s, "n")
		_ = s.Set("n", n+1)
	}))
	var cookie *http.Cookie
	for i := range perMode {
		req := httptest.NewRequest("GET", "/", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			t.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
		if cs := w.Result().Cookies(); len(cs) > 0 {
			cookie = cs[0]
		}
	}

	g := gather(t, newCollector(t, metrics.Config{Channel: a.ch, SessionManagers: []*delta.Manager{ms[0]}}))
	for _, s := range []string{"tribes_transport_messages_sent_total", "tribes_transport_conns_pooled",
		"tribes_interceptor_throughput_messages_tx_total", "tribes_interceptor_order_sent_total",
		"tribes_interceptor_fragmentation_sent_whole_total", "tribes_interceptor_tcp_failure_detector_probes_total",
		`tribes_sessions_sent_total{context="localhost#/",event="EVT_SESSION_DELTA"}`} {
		if _, ok := g.series[s]; !ok {
			t.Errorf("no %s", s)
		}
	}
	if g.types["tribes_transport_conns_pooled"] != gaugeType {
		t.Errorf("conns_pooled is a %s", g.types["tribes_transport_conns_pooled"])
	}
	if v := g.series["tribes_channel_messages_sent_total"]; v < 3*perMode {
		t.Errorf("channel messages sent %v", v)
	}

	recs := rec.snapshot()
	var lines []string
	byMsg := map[string]int{}
	for _, r := range recs {
		lines = append(lines, r.Level.String()+" "+r.Message)
		byMsg[r.Message]++
		if r.Level >= slog.LevelWarn {
			t.Errorf("unexpected %s record in a healthy run: %s", r.Level, r.Message)
		}
	}
	t.Logf("%d records:\n%s", len(recs), strings.Join(lines, "\n"))
	// 4 × perMode messages went each way plus the replies: a per-message log would show
	// hundreds of records. Lifecycle and membership give a handful per node.
	if len(recs) > 40 {
		t.Errorf("%d log records for %d messages and %d requests:\n%s", len(recs), 3*perMode, perMode, strings.Join(lines, "\n"))
	}
	for msg, n := range byMsg {
		if n > 4 {
			t.Errorf("%q logged %d times", msg, n)
		}
	}
	for _, want := range []string{"tribes channel started", "tribes member added", "tribes nio receiver listening"} {
		found := false
		for _, r := range recs {
			if r.Message == want {
				found = true
				if r.Level != slog.LevelInfo {
					t.Errorf("%q at %s, want INFO", want, r.Level)
				}
			}
		}
		if !found {
			t.Errorf("no %q record at Info:\n%s", want, strings.Join(lines, "\n"))
		}
	}
}
