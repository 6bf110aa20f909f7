package metrics_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/metrics"
	"github.com/gotribes/tribes/transport/nio"
)

// TestTransportSocketBufferGauges: the socket buffer sizes nio's Stats reports
// (RxBufKernel, TxBufKernel, SenderRxBufKernel, SenderTxBufKernel) are gauges named with
// their unit, tribes_transport_..._kernel_bytes, as the other byte gauges are
// (tribes_transport_pending_bytes), holding what Stats holds once a connection was made
// both ways (non-zero where they are read); the names without the unit are gone.
func TestTransportSocketBufferGauges(t *testing.T) {
	ctx := context.Background()
	start := func() (*nio.Transport, channel.Member) {
		tr, err := nio.New(nio.Config{Port: 0})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Start(ctx, channel.SvcTransport, func(m *channel.Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Stop(context.Background(), channel.SvcTransport) })
		la := tr.LocalAddress()
		return tr, channel.Member{Host: la.Host, Port: la.Port, SecurePort: la.SecurePort, UDPPort: la.UDPPort}
	}
	a, am := start()
	b, bm := start()
	msg := &channel.Message{Options: channel.OptUseAck | channel.OptByteMessage, ID: channel.NewMessageID(), Source: am, Data: []byte("x")}
	if err := a.Send(ctx, []channel.Member{bm}, msg); err != nil {
		t.Fatal(err)
	}
	g := gather(t,
		newCollector(t, metrics.Config{Sources: []metrics.Source{{Name: "transport", Stats: a}}, Labels: prometheus.Labels{"node": "a"}}),
		newCollector(t, metrics.Config{Sources: []metrics.Source{{Name: "transport", Stats: b}}, Labels: prometheus.Labels{"node": "b"}}))
	as, bs := a.Stats(), b.Stats()
	for name, want := range map[string]int64{
		`tribes_transport_rx_buf_kernel_bytes{node="b"}`:        bs.RxBufKernel,
		`tribes_transport_tx_buf_kernel_bytes{node="b"}`:        bs.TxBufKernel,
		`tribes_transport_sender_rx_buf_kernel_bytes{node="a"}`: as.SenderRxBufKernel,
		`tribes_transport_sender_tx_buf_kernel_bytes{node="a"}`: as.SenderTxBufKernel,
	} {
		got, ok := g.series[name]
		switch {
		case !ok || g.types[seriesName(name)] != gaugeType:
			t.Errorf("%s: present %v, type %v; want a gauge", name, ok, g.types[seriesName(name)])
		case got != float64(want):
			t.Errorf("%s = %v, Stats says %d", name, got, want)
		case want <= 0 && runtime.GOOS == "linux":
			t.Errorf("%s = %d: not read", name, want)
		}
	}
	for name := range g.types {
		if strings.HasSuffix(name, "_buf_kernel") {
			t.Errorf("%s is collected: the name lacks its unit", name)
		}
	}
}
