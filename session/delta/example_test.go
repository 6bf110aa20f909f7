package delta_test

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// exampleCluster starts one manager per route on an in-memory network and returns them
// with a function that stops everything.
func exampleCluster(cfg delta.Config, routes ...string) ([]*delta.Manager, func()) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var ms []*delta.Manager
	var stops []func()
	for _, route := range routes {
		n := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: n.Membership()})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch})
		if err != nil {
			panic(err)
		}
		c := cfg
		c.JvmRoute = route
		m, err := cl.NewManager(c)
		if err != nil {
			panic(err)
		}
		if err := m.Start(ctx); err != nil {
			panic(err)
		}
		if err := m.WaitReady(ctx); err != nil {
			panic(err)
		}
		ms = append(ms, m)
		stops = append(stops, func() {
			_ = cl.Close(ctx)
			_ = ch.Stop(ctx, channel.SvcAll)
		})
	}
	return ms, func() {
		for _, s := range stops {
			s()
		}
	}
}

// A session created and changed on one node is readable on the other once the request
// ends (Replicate is what the middleware calls then).
func Example() {
	ctx := context.Background()
	ms, stop := exampleCluster(delta.Config{Name: "localhost#/shop"}, "node1", "node2")
	defer stop()
	a, b := ms[0], ms[1]

	s, _ := a.Create(ctx)
	_ = s.Set("user", "alice")
	_ = s.Set("items", 3)
	_ = a.Replicate(ctx, s)

	cp := b.Find(s.ID())
	user, _ := delta.Attr[string](cp, "user")
	items, _ := delta.Attr[int](cp, "items")
	fmt.Println(user, items, "primary on node2:", cp.IsPrimary())
	fmt.Println("id ends with the creating node's route:", strings.HasSuffix(s.ID(), ".node1"))
	// Output:
	// alice 3 primary on node2: false
	// id ends with the creating node's route: true
}

// The middleware keeps a counter in the session. The second request fails over to the
// other node, which renames the session to its own route and sends a new cookie.
func ExampleMiddleware() {
	ms, stop := exampleCluster(delta.Config{Name: "localhost#/", Replication: delta.ReplicateAcked}, "node1", "node2")
	defer stop()
	visits := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := delta.FromContext(r.Context())
		n, _ := sess.Get("visits")
		count, _ := n.(int)
		_ = sess.Set("visits", count+1)
		fmt.Fprintf(w, "visit %d", count+1)
	})
	var handlers []http.Handler
	for _, m := range ms {
		mw, err := delta.NewMiddleware(m, delta.HTTPConfig{})
		if err != nil {
			panic(err)
		}
		handlers = append(handlers, mw.Wrap(visits))
	}

	w1 := httptest.NewRecorder()
	handlers[0].ServeHTTP(w1, httptest.NewRequest(http.MethodGet, "/", nil))
	cookie := w1.Result().Cookies()[0]

	r2 := httptest.NewRequest(http.MethodGet, "/", nil)
	r2.AddCookie(cookie)
	w2 := httptest.NewRecorder()
	handlers[1].ServeHTTP(w2, r2)
	renamed := w2.Result().Cookies()[0]

	fmt.Println(w1.Body, "|", w2.Body)
	fmt.Println(cookie.Name, strings.HasSuffix(cookie.Value, ".node1"), strings.HasSuffix(renamed.Value, ".node2"))
	// Output:
	// visit 1 | visit 2
	// JSESSIONID true true
}

// Session values go through the manager's ValueCodec when they are set: what cannot be
// replicated is refused at once.
func ExampleSession_Set() {
	ms, stop := exampleCluster(delta.Config{Name: "localhost#/", MemberWait: -1}, "node1")
	defer stop()
	s, _ := ms[0].Create(context.Background())
	err := s.Set("callback", func() {})
	fmt.Println(err)
	// Output:
	// delta: attribute "callback": cannot encode value of type func(): gob: type not registered for interface: func()
}

// Update is a read-modify-write that concurrent requests of one session cannot interleave.
func ExampleSession_Update() {
	ctx := context.Background()
	ms, stop := exampleCluster(delta.Config{Name: "localhost#/", MemberWait: -1}, "node1")
	defer stop()
	s, _ := ms[0].Create(ctx)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, _ = s.Update("visits", func(old any) (any, error) {
				n, _ := old.(int)
				return n + 1, nil
			})
		})
	}
	wg.Wait()
	visits, _ := delta.Attr[int](s, "visits")
	fmt.Println(visits)
	// Output:
	// 10
}

// A value must read back on the other nodes as it is here: a struct field gob would leave
// out is refused at Set.
func ExampleErrValueNotReplicable() {
	type basket struct {
		Items []string
		total int // unexported: gob does not carry it
	}
	gob.Register(basket{})
	ms, stop := exampleCluster(delta.Config{Name: "localhost#/", MemberWait: -1}, "node1")
	defer stop()
	s, _ := ms[0].Create(context.Background())
	err := s.Set("basket", basket{Items: []string{"book"}, total: 12})
	fmt.Println(errors.Is(err, delta.ErrValueNotReplicable))
	// Output:
	// true
}
