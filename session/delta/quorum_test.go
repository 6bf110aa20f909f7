package delta_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A partition cuts node c off from a and b; the membership notices, and c sees no
// member. Without a quorum c goes on acknowledging its changes (Tomcat does the same),
// though a and b never get them. With ClusterSize 3 only the side holding a majority (a
// and b) acknowledges changes: c's replications, id changes and invalidations fail with
// ErrNoQuorum and its middleware answers 503, until the partition heals. Both ways to send: batched (a ctx that cannot be cancelled, as the
// middleware's) and one message per call (a cancellable ctx).
func TestQuorumOfAckedReplication(t *testing.T) {
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, send := range []struct {
		name string
		ctx  context.Context
	}{{"batched", context.Background()}, {"single", cancellable}} {
		t.Run(send.name, func(t *testing.T) {
			ctx := send.ctx
			t.Run("none", func(t *testing.T) {
				nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked})
				s := create(t, a, "k", "v1")
				if err := a.m.Replicate(ctx, s); err != nil {
					t.Fatal(err)
				}
				nw.Partition(c.tn, a.tn)
				nw.Partition(c.tn, b.tn)
				sc := c.m.Find(s.ID())
				_ = sc.Set("k", "c")
				if err := c.m.Replicate(ctx, sc); err != nil {
					t.Fatalf("without a quorum, a node alone acknowledges its change: %v", err)
				}
				if v, _ := a.m.Find(s.ID()).Get("k"); v != "v1" {
					t.Fatalf("a has k = %v", v)
				}
			})

			nw, a, b, c := three(t, delta.Config{Replication: delta.ReplicateAcked, ClusterSize: 3})
			s := create(t, a, "k", "v1")
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
			nw.Partition(c.tn, a.tn)
			nw.Partition(c.tn, b.tn)
			if n := len(c.ch.Members()); n != 0 {
				t.Fatalf("c sees %d members after the partition", n)
			}

			sc := c.m.Find(s.ID())
			_ = sc.Set("k", "c")
			err := c.m.Replicate(ctx, sc)
			if !errors.Is(err, delta.ErrNoQuorum) || !strings.Contains(err.Error(), "1 of 3 nodes hold it") {
				t.Fatalf("c's change, alone: %v, want ErrNoQuorum", err)
			}
			created := func() *delta.Session { // on c alone: the creation is not acknowledged, only logged
				s, err := c.m.Create(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			if _, err := c.m.ChangeSessionID(ctx, created(), ""); !errors.Is(err, delta.ErrNoQuorum) {
				t.Errorf("c's id change, alone: %v, want ErrNoQuorum", err)
			}
			if err := c.m.Invalidate(ctx, created()); !errors.Is(err, delta.ErrNoQuorum) {
				t.Errorf("c's invalidation, alone: %v, want ErrNoQuorum", err)
			}
			h := wrap(t, c, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = delta.FromContext(r.Context()).Set("k", "http")
				fmt.Fprint(w, "stored")
			}))
			if w := get(h, "/", ""); w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "stored") {
				t.Errorf("c's middleware, alone, answered %d %q, want 503", w.Code, w.Body.String())
			}

			// The majority side acknowledges: a and b each have one member, 2 of 3 nodes.
			_ = s.Set("k", "v2")
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatalf("a's change with b: %v", err)
			}
			if v, _ := b.m.Find(s.ID()).Get("k"); v != "v2" {
				t.Errorf("b has k = %v, want v2", v)
			}

			// Healed, c acknowledges changes again.
			nw.Heal(c.tn, a.tn)
			nw.Heal(c.tn, b.tn)
			fresh := create(t, c, "n", 1)
			if err := c.m.Replicate(ctx, fresh); err != nil {
				t.Fatalf("c's change after the heal: %v", err)
			}
			if v, _ := a.m.Find(fresh.ID()).Get("n"); v != 1 {
				t.Errorf("a has n = %v, want 1", v)
			}
		})
	}
}

func TestQuorumConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  delta.Config
	}{
		{"negative", delta.Config{Replication: delta.ReplicateAcked, ClusterSize: -1}},
		{"async", delta.Config{ClusterSize: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ch := newChannel(t, channeltest.NewNetwork())
			cl := delta.NewCluster(ch, delta.ClusterConfig{})
			defer func() { _ = cl.Close(context.Background()) }()
			tc.cfg.Name = appName
			if _, err := cl.NewManager(tc.cfg); !errors.Is(err, delta.ErrInvalidConfig) {
				t.Errorf("NewManager: %v, want ErrInvalidConfig", err)
			}
		})
	}
}
