package metrics_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

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
func ExampleRegistry_Register() {
	reg := metrics.NewRegistry()
	_ = reg.Register("cache", func() CacheStats { return CacheStats{Hits: 42, Entries: 7, Age: 1500 * time.Millisecond} },
		metrics.L("node", "n1"))
	_ = reg.WritePrometheus(os.Stdout)
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

// RegisterChannel publishes a channel's statistics and those of its transport, membership
// and interceptors.
func ExampleRegistry_RegisterChannel() {
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

	reg := metrics.NewRegistry()
	_ = reg.RegisterChannel(chans[0], metrics.L("node", "a"))
	var b strings.Builder
	_ = reg.WritePrometheus(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "tribes_channel_messages_sent_total") || strings.HasPrefix(line, "tribes_channel_members{") {
			fmt.Println(line)
		}
	}
	// Output:
	// tribes_channel_members{node="a"} 1
	// tribes_channel_messages_sent_total{node="a"} 1
}
