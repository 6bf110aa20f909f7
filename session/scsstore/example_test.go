package scsstore_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/alexedwards/scs/v2"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/scsstore"
)

// Two nodes (in-memory channels here; transport/nio and a membership service in a real
// cluster) serve the same application with scs: a session a client starts on one node
// is read on the other, as behind a balancer without stickiness.
func Example() {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var handlers []http.Handler
	for _, route := range []string{"node1", "node2"} {
		tn := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership()})
		if err != nil {
			log.Fatal(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			log.Fatal(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch})
		if err != nil {
			log.Fatal(err)
		}
		defer cl.Close(ctx)
		m, err := cl.NewManager(delta.Config{Name: "localhost#/shop", JvmRoute: route,
			Replication: delta.ReplicateAcked, MemberWait: -1})
		if err != nil {
			log.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			log.Fatal(err)
		}

		st, err := scsstore.New(scsstore.Config{Manager: m})
		if err != nil {
			log.Fatal(err)
		}
		sm := scs.New()
		sm.Store = st
		mux := http.NewServeMux()
		mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
			sm.Put(r.Context(), "user", "alice")
			fmt.Fprintln(w, "logged in on", route)
		})
		mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%q on %s\n", sm.GetString(r.Context(), "user"), route)
		})
		handlers = append(handlers, sm.LoadAndSave(mux))
	}

	serve := func(h http.Handler, path string, cookie *http.Cookie) *http.Response {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body, _ := io.ReadAll(w.Result().Body)
		fmt.Print(string(body))
		return w.Result()
	}
	login := serve(handlers[0], "/login", nil)
	serve(handlers[1], "/whoami", login.Cookies()[0]) // acked: node2 had it before node1 answered
	// Output:
	// logged in on node1
	// "alice" on node2
}
