package metrics_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/membership/mcast"
	"github.com/gotribes/tribes/metrics"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/scsstore"
	"github.com/gotribes/tribes/transport/nio"
)

// TestOperationsMetricNames: every metric docs/operations.md names exists, and so does
// every one the other pages and the README name (cluster-apps.md, consistency.md,
// farm.md, security.md and sessions.md had no such test), collected from the parts they
// name them for: a channel on the nio transport with multicast membership and the
// dispatch, order, TCP failure detector and encrypt interceptors, a session/delta manager
// and its cluster, a session/scsstore store and a farm.Deployer. None needs to run: the
// collector reads their counters. The one name operations.md gives as gone must not exist.
func TestOperationsMetricNames(t *testing.T) {
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	const gone = "tribes_interceptor_message_dispatch_pending_count"
	var named []string
	for _, f := range append(files, "../README.md") {
		doc, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile("`(tribes_[a-z0-9_]+)`").FindAllSubmatch(doc, -1) {
			if n := string(m[1]); !slices.Contains(named, n) && (n != gone || strings.HasSuffix(f, "operations.md")) {
				named = append(named, n)
			}
		}
	}
	if len(named) < 35 || !slices.Contains(named, gone) {
		t.Fatalf("the pages name %d metrics (%v): the pattern no longer finds them", len(named), named)
	}

	tr, err := nio.New(nio.Config{Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := mcast.New(mcast.DefaultLocalConfig())
	if err != nil {
		t.Fatal(err)
	}
	ics, err := interceptors.Build("dispatch,order,encrypt(encryptionKey=000102030405060708090a0b0c0d0e0f),tcpfailure", nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := channel.New(channel.Config{Transport: tr, Membership: mb, Interceptors: ics, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, sch := channeltest.NewNetwork().StartChannel(t)
	cl := newSessionCluster(t, delta.ClusterConfig{Channel: sch})
	t.Cleanup(func() { _ = cl.Close(t.Context()) })
	m, err := cl.NewManager(delta.Config{Name: "localhost#/app", MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := scsstore.New(scsstore.Config{Manager: m})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := farm.New(farm.Config{Channel: ch, DeployDir: t.TempDir(), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	g := gather(t, newCollector(t, metrics.Config{Channel: ch, SessionManagers: []*delta.Manager{m},
		SessionClusters: []*delta.Cluster{cl}, Sources: []metrics.Source{{Name: "scsstore", Stats: st}, {Name: "farm", Stats: fd}}}))
	for _, n := range named {
		_, ok := g.types[n]
		switch {
		case n == gone && ok:
			t.Errorf("%s, which the page says is gone, is collected", n)
		case n != gone && !ok:
			t.Errorf("the docs name %s, which is not collected", n)
		}
	}
}
