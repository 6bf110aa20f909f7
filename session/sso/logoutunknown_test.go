package sso_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/sso"
)

// TestLogoutOfUnknownCookieSendsNothing: Tomcat deregisters only the entry its
// valve found for the request (SingleSignOn.invoke sets REQ_SSOID_NOTE only when the
// cache holds the cookie's id; AuthenticatorBase.register/logout deregister that note), so
// a cookie naming no entry costs no cluster message. Logout refuses a value that cannot
// be an id and deregisters only an id the map holds. (Found when it deregistered whatever
// the cookie said: any client could make a node send a MSG_REMOVE carrying a key of its
// choosing, as long as its headers allowed (64 KiB here, 1 MiB with net/http's default
// MaxHeaderBytes), to every member, with SYNC_ACK, each request.)
func TestLogoutOfUnknownCookieSendsNothing(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startSSOOn(t, newChannel(t, nw), nil)
	chb := newChannel(t, nw)
	b := startSSOOn(t, chb, nil)
	seeEachOther(t, a.Map(), b.Map())

	// A value that cannot be an id, and a well-formed id (Tomcat's form) of no entry.
	for _, v := range []string{strings.Repeat("A", 64<<10), strings.Repeat("0123456789ABCDEF", 2)} {
		before := chb.Stats()
		req := httptest.NewRequest(http.MethodPost, "/logout", nil)
		req.AddCookie(&http.Cookie{Name: sso.DefaultCookieName, Value: v})
		if err := a.Logout(ctx, httptest.NewRecorder(), req); err != nil {
			t.Fatal(err)
		}
		after := chb.Stats()
		if n, bytes := after.MessagesReceived-before.MessagesReceived, after.BytesReceived-before.BytesReceived; n != 0 {
			t.Errorf("a Logout with a cookie (%d bytes) naming no entry sent node b %d message(s), %d bytes", len(v), n, bytes)
		}
	}
}

// TestWrapIgnoresInvalidCookie: Wrap looks up only a cookie value that can be a single
// sign-on id (letters, digits, '.', '-', '_', at most 256 bytes): an entry the map holds
// under another key is not found through the cookie.
func TestWrapIgnoresInvalidCookie(t *testing.T) {
	ctx := context.Background()
	s := startSSOOn(t, newChannel(t, channeltest.NewNetwork()), nil)
	for _, key := range []string{"not an id", strings.Repeat("A", 257)} {
		if _, err := s.Map().Put(ctx, key, &sso.Entry{AuthType: "FORM"}); err != nil {
			t.Fatal(err)
		}
		found := false
		page := s.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			e, _ := sso.FromContext(r.Context())
			found = e != nil
		}))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Cookie", sso.DefaultCookieName+"="+`"`+key+`"`)
		if c, err := req.Cookie(sso.DefaultCookieName); err != nil || c.Value != key {
			t.Fatalf("the request's cookie reads %v, %v; want %q", c, err, key)
		}
		page.ServeHTTP(httptest.NewRecorder(), req)
		if found {
			t.Errorf("Wrap found the entry of the cookie value %q, which cannot be an id", key)
		}
	}
}
