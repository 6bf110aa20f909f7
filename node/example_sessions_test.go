package node_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// Two nodes over TCP on loopback, each listing the other, share sessions with acked
// replication: a session a client starts through node1's middleware is read through
// node2's. The channels start first, then the managers: each asks the other for its
// sessions, and the other, still waiting for its own, has none to give (it answers
// EVT_ALL_SESSION_NOCONTEXTMANAGER, or FAIL_ACK before its manager runs), so both start
// empty once delta.Config.MemberWait (3 s) has passed; the first request waits for that.
func Example_sessions() {
	ctx := context.Background()
	var chans []*channel.Channel
	for i := range 2 {
		// Each node on a port of the kernel's choice; node2 lists node1 from the start,
		// and node1 adds node2 to its static list once node2 runs.
		cfg := node.Config{Transport: &nio.Config{Address: "127.0.0.1"}, UniqueID: channel.UniqueID{byte(i + 1)}}
		if i == 1 {
			cfg.StaticMembers = []channel.Member{chans[0].LocalMember()}
		}
		ch, err := node.New(cfg)
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		chans = append(chans, ch)
	}
	if err := chans[0].Membership().(*static.Service).Add(ctx, chans[1].LocalMember()); err != nil {
		panic(err)
	}

	var handlers []http.Handler
	for i, ch := range chans {
		route := fmt.Sprintf("node%d", i+1)
		cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch})
		if err != nil {
			panic(err)
		}
		defer cl.Close(ctx)
		m, err := cl.NewManager(delta.Config{Name: "localhost#/shop", JvmRoute: route,
			Replication: delta.ReplicateAcked})
		if err != nil {
			panic(err)
		}
		if err := m.Start(ctx); err != nil {
			panic(err)
		}
		mw, err := delta.NewMiddleware(m, delta.HTTPConfig{})
		if err != nil {
			panic(err)
		}
		handlers = append(handlers, mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sess := delta.FromContext(r.Context())
			if r.URL.Path == "/login" {
				if err := sess.Set("user", "alice"); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
			user, _ := sess.Get("user")
			fmt.Fprintf(w, "%v on %s\n", user, route)
		})))
	}

	serve := func(h http.Handler, path string, cookies []*http.Cookie) []*http.Cookie {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body, _ := io.ReadAll(w.Result().Body)
		fmt.Print(string(body))
		return w.Result().Cookies()
	}
	cookies := serve(handlers[0], "/login", nil)
	serve(handlers[1], "/whoami", cookies) // acked: node2 had the session before node1 answered
	// Output:
	// alice on node1
	// alice on node2
}
