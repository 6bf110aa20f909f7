package sso_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// Two nodes share single sign-on: a user logs in on the first node's page, and the
// second node's page knows who it is. With transport/nio and Tomcat nodes running
// ClusterSingleSignOn, the code is the same.
func Example() {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var nodes []*sso.SSO
	for range 2 {
		tn := nw.NewNode()
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		defer ch.Stop(ctx, channel.SvcAll)
		s, err := sso.New(sso.Config{Channel: ch})
		if err != nil {
			panic(err)
		}
		if err := s.Start(ctx); err != nil {
			panic(err)
		}
		defer s.Stop(ctx)
		nodes = append(nodes, s)
	}
	login := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/login", nil)
	if _, err := nodes[0].Login(ctx, login, req, &sso.Entry{Principal: &delta.Principal{Name: "ann", Roles: []string{"dev"}},
		AuthType: "FORM", Username: "ann", Password: "secret"}); err != nil {
		panic(err)
	}
	page := nodes[1].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, _ := sso.FromContext(r.Context())
		fmt.Println("signed on:", e.Principal.Name, e.Principal.HasRole("dev"))
	}))
	next := httptest.NewRequest(http.MethodGet, "/", nil)
	next.AddCookie(login.Result().Cookies()[0])
	page.ServeHTTP(httptest.NewRecorder(), next)
	// Output:
	// signed on: ann true
}
