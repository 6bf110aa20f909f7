package sso_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// serveSession requests path from page with the single sign-on cookie ssoID and the
// session cookie sid (each unless empty), and returns the session id the answer's cookie
// sets (sid when it sets none).
func serveSession(t *testing.T, page http.Handler, path, ssoID, sid string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if ssoID != "" {
		req.AddCookie(&http.Cookie{Name: sso.DefaultCookieName, Value: ssoID})
	}
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: sid})
	}
	w := httptest.NewRecorder()
	page.ServeHTTP(w, req)
	for _, c := range w.Result().Cookies() {
		if c.Name == "JSESSIONID" {
			return c.Value
		}
	}
	return sid
}

// TestChangeIDKeepsEntryInSync: Tomcat's SingleSignOnListener handles
// SESSION_CHANGED_ID_EVENT (SingleSignOn.sessionChangedId): when a signed-on session's id
// changes (session fixation protection, which delta's docs say to call on login), the
// entry lists the new id instead of the old one, so the session's timeout still ends the
// sign-on. A request's ChangeID behind AssociateDelta, with sso.Listeners as the
// manager's NamedListener (docs/tomcat.md), reaches the session's attached listener
// (delta.IDListener): the entry lists only the new id, and when the renamed session (the
// user's only one) times out the entry is deregistered. (Found when the entry kept the
// old id forever: the user stayed signed on, on every node, with no session left.)
func TestChangeIDKeepsEntryInSync(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	ch := newChannel(t, nw)
	s := startSSOOn(t, ch, nil)
	m, mw := startSSOApp(t, ch, s, nil)
	page := s.Wrap(mw.Wrap(s.AssociateDelta(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rq := delta.FromContext(r.Context())
		if err := rq.Set("seen", true); err != nil {
			t.Error(err)
		}
		if r.URL.Path == "/app/rename" {
			if _, err := rq.ChangeID(); err != nil {
				t.Error(err)
			}
		}
	}), "localhost", "/app")))

	id, err := s.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "FORM"})
	if err != nil {
		t.Fatal(err)
	}
	keys := func() []string {
		e, err := s.Lookup(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			return nil
		}
		var ids []string
		for _, k := range e.SessionKeys() {
			ids = append(ids, k.ID)
		}
		return ids
	}
	old := serveSession(t, page, "/app/", id, "")
	if got := keys(); !slices.Equal(got, []string{old}) {
		t.Fatalf("the entry lists %v, want %s", got, old)
	}
	renamed := serveSession(t, page, "/app/rename", id, old)
	if renamed == old {
		t.Fatal("ChangeID set no new session cookie")
	}
	if got := keys(); !slices.Equal(got, []string{renamed}) {
		t.Errorf("after the session's id changed %s -> %s the entry lists %v, want only the new id (Tomcat's sessionChangedId)",
			old, renamed, got)
	}

	// The user's only session times out: Tomcat's removeSession empties the entry and
	// deregisters it.
	ds := m.Find(renamed)
	if ds == nil {
		t.Fatalf("no session %s", renamed)
	}
	if err := ds.SetMaxInactiveInterval(time.Second); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the session timed out", func() bool {
		m.ProcessExpires(ctx)
		return m.Find(renamed) == nil
	})
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		if got := keys(); got != nil {
			return fmt.Errorf("still signed on after the user's only session timed out: the entry lists %v", got)
		}
		return nil
	})
}
