package metrics_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/metrics"
)

// TestFarmSource: a farm.Deployer is a Source as it is (its Stats method); a file sent to
// it counts in tribes_farm_files_received_total.
func TestFarmSource(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var ds []*farm.Deployer
	for range 2 {
		tn := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)
		d, err := farm.New(farm.Config{Channel: ch, DeployDir: t.TempDir(), TempDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Stop(context.Background()) })
		ds = append(ds, d)
	}
	src := filepath.Join(t.TempDir(), "shop.war")
	if err := os.WriteFile(src, bytes.Repeat([]byte("x"), 30000), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ds[0].Install(ctx, "/shop", src); err != nil {
		t.Fatal(err)
	}
	g := gather(t, newCollector(t, metrics.Config{Sources: []metrics.Source{{Name: "farm", Stats: ds[1]}}}))
	for name, want := range map[string]float64{
		"tribes_farm_files_received_total": 1,
		"tribes_farm_refused_total":        0,
		"tribes_farm_incomplete":           0,
	} {
		if got, ok := g.series[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v; have %v", name, got, ok, want, g.names())
		}
	}
}
