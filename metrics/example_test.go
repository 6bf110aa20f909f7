package metrics_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/metrics"
)

// CacheStats is a source's struct: unsigned fields are counters, the rest gauges.
type CacheStats struct {
	Hits    uint64        // counter: tribes_cache_hits_total
	Entries int           // gauge: tribes_cache_entries
	Age     time.Duration `help:"age of the oldest entry"` // gauge in seconds
}

// Any function returning a struct (or a value with a Stats method) is a source.
func ExampleSource() {
	c, err := metrics.NewCollector(metrics.Config{
		Sources: []metrics.Source{{Name: "cache", Stats: func() CacheStats {
			return CacheStats{Hits: 42, Entries: 7, Age: 1500 * time.Millisecond}
		}}},
		Labels: prometheus.Labels{"node": "n1"},
	})
	if err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	families, _ := reg.Gather()
	for _, f := range families {
		_, _ = expfmt.MetricFamilyToText(os.Stdout, f)
	}
	// Output:
	// # HELP tribes_cache_age_seconds age of the oldest entry
	// # TYPE tribes_cache_age_seconds gauge
	// tribes_cache_age_seconds{node="n1"} 1.5
	// # HELP tribes_cache_entries metrics_test.CacheStats.Entries
	// # TYPE tribes_cache_entries gauge
	// tribes_cache_entries{node="n1"} 7
	// # HELP tribes_cache_hits_total metrics_test.CacheStats.Hits
	// # TYPE tribes_cache_hits_total counter
	// tribes_cache_hits_total{node="n1"} 42
}

// A collector of a channel reports its statistics and those of its transport, membership
// and interceptors. Register it in your registry and serve that registry with
// promhttp.HandlerFor.
func ExampleNewCollector() {
	nw := channeltest.NewNetwork()
	ctx := context.Background()
	var chans []*channel.Channel
	for range 2 {
		n := nw.NewNode()
		ch, _ := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
		_ = ch.Start(ctx, channel.SvcAll)
		defer ch.Stop(ctx, channel.SvcAll)
		chans = append(chans, ch)
	}
	_ = chans[0].Send(ctx, nil, []byte("hello"), channel.OptUseAck)

	c, err := metrics.NewCollector(metrics.Config{Channel: chans[0], Labels: prometheus.Labels{"node": "a"}})
	if err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	// http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "tribes_channel_messages_sent_total" || f.GetName() == "tribes_channel_members" {
			fmt.Println(f.GetName(), f.GetMetric()[0].GetLabel()[0].GetValue(), f.GetMetric()[0].GetGauge().GetValue()+f.GetMetric()[0].GetCounter().GetValue())
		}
	}
	// Output:
	// tribes_channel_members a 1
	// tribes_channel_messages_sent_total a 1
}
