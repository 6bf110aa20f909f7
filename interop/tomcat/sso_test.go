package tomcatinterop_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// ssoCookie is a single sign-on cookie for a request to Tomcat.
func ssoCookie(id string) *http.Cookie { return &http.Cookie{Name: sso.DefaultCookieName, Value: id} }

// TestClusterSingleSignOn runs a Tomcat 10.1 node with ClusterSingleSignOn and a Go node
// in its single sign-on map: a user who logs in on Tomcat is signed on on Go (the Go
// page behind sso.Wrap sees the principal with its roles), an entry Go changes goes back
// to Tomcat with the sessions Tomcat recorded in it, Tomcat's logout signs the user off on
// Go, a user Go signs on is the logged-in user of Tomcat's pages, and Go's sign-off logs
// the user out on Tomcat.
func TestClusterSingleSignOn(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	ta, ch := tomcatAndGo(t, dir, app, tomcat.Config{Route: "A", UniqueID: uid(41), SendOption: 6, SSO: true},
		uid(43), staticsvc.DefaultChannelName)
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	s, err := sso.New(sso.Config{Channel: ch})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(wctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	srv := httptest.NewServer(s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, _ := sso.FromContext(r.Context())
		if e == nil || e.Principal == nil {
			fmt.Fprintln(w, "-")
			return
		}
		fmt.Fprintf(w, "%s dev=%t admin=%t %s\n", e.Principal.Name, e.Principal.HasRole("dev"), e.Principal.HasRole("admin"),
			e.AuthType)
	})))
	defer srv.Close()
	whoOnTomcat := func(id string) string {
		t.Helper()
		out, err := ta.Get("/whoami", ssoCookie(id))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	const ann = tomcat.RealmUser + " dev=true admin=true"

	var tomcatID, tomcatSession string
	t.Run("TomcatToGo", func(t *testing.T) {
		resp, err := http.Get(ta.URL + "/login?user=" + tomcat.RealmUser + "&pw=" + tomcat.RealmPassword)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			switch c.Name {
			case sso.DefaultCookieName:
				tomcatID = c.Value
			case tomcat.SessionCookie("").Name:
				tomcatSession = c.Value
			}
		}
		if resp.StatusCode != http.StatusOK || tomcatID == "" {
			t.Fatalf("login on Tomcat: %s, cookies %v", resp.Status, resp.Cookies())
		}
		// Tomcat registers the entry, then adds the login's session to it.
		testutil.Eventually(t, 30*time.Second, func() error {
			e, err := s.Lookup(ctx, tomcatID)
			if err != nil || e == nil || e.Principal == nil || e.Sessions() != 1 {
				return fmt.Errorf("Go's entry %+v, %v", e, err)
			}
			return nil
		})
		if code, body, _ := httpGet(t, srv.URL, ""); code != http.StatusOK || body != "-" {
			t.Errorf("Go page without the cookie: %d %q", code, body)
		}
		if got := httpBody(t, srv.URL, tomcatID); got != ann+" NONE" {
			t.Errorf("Go page signed on by Tomcat: %q, want %q", got, ann+" NONE")
		}
	})

	t.Run("GoChangeBackToTomcat", func(t *testing.T) {
		// Go replaces the entry with a copy of its own (the user's roles as they were):
		// Tomcat reads it back, the session it recorded in it included.
		e, err := s.Lookup(ctx, tomcatID)
		if err != nil || e == nil {
			t.Fatalf("entry %v %v", e, err)
		}
		if _, err := s.Map().Put(ctx, tomcatID, e); err != nil {
			t.Fatal(err)
		}
		if got := whoOnTomcat(tomcatID); got != ann {
			t.Errorf("Tomcat after Go's copy: %q, want %q", got, ann)
		}
	})

	t.Run("TomcatLogoutToGo", func(t *testing.T) {
		// The login's session ends (invalidated: a logout, not a timeout): Tomcat signs
		// the user off, which removes the entry from Go's map too.
		if out, err := ta.Get("/invalidate", tomcat.SessionCookie(tomcatSession)); err != nil || out != "invalidated" {
			t.Fatalf("invalidate on Tomcat: %q %v", out, err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			if e, err := s.Lookup(ctx, tomcatID); e != nil || err != nil {
				return fmt.Errorf("Go still has the entry %+v (%v)", e, err)
			}
			return nil
		})
		if got := httpBody(t, srv.URL, tomcatID); got != "-" {
			t.Errorf("Go page after Tomcat's logout: %q", got)
		}
	})

	t.Run("GoToTomcat", func(t *testing.T) {
		if got := whoOnTomcat("0123456789ABCDEF0123456789ABCDEF"); got != "-" {
			t.Fatalf("Tomcat with an unknown id: %q", got)
		}
		id, err := s.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: tomcat.RealmUser, Roles: []string{"dev", "admin"}},
			AuthType: "FORM", Username: tomcat.RealmUser, Password: tomcat.RealmPassword})
		if err != nil {
			t.Fatal(err)
		}
		if got := whoOnTomcat(id); got != ann {
			t.Fatalf("Tomcat with Go's sign-on: %q, want %q\n%s", got, ann, ta.Log())
		}
		if err := s.Deregister(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got := whoOnTomcat(id); got != "-" {
			t.Errorf("Tomcat after Go's sign-off: %q", got)
		}
	})
}

// httpBody returns the trimmed body of url requested with the single sign-on cookie id.
func httpBody(t *testing.T, url, id string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(ssoCookie(id))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestClusterSingleSignOnHostCluster: with the cluster in the Host (as a farm deployer
// needs it), Tomcat's map is "<host>-SSO-cache" on the channel "<host>-Channel"; a login
// on Tomcat reaches a Go node configured with those names.
func TestClusterSingleSignOnHostCluster(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	ta, ch := tomcatAndGo(t, dir, app, tomcat.Config{Route: "A", UniqueID: uid(61), SendOption: 6, SSO: true, Farm: true},
		uid(63), hostChannel)
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	s, err := sso.New(sso.Config{Channel: ch, MapName: "localhost-SSO-cache"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(wctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	resp, err := http.Get(ta.URL + "/login?user=" + tomcat.RealmUser + "&pw=" + tomcat.RealmPassword)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var id string
	for _, c := range resp.Cookies() {
		if c.Name == sso.DefaultCookieName {
			id = c.Value
		}
	}
	if id == "" {
		t.Fatalf("login on Tomcat: %s, cookies %v", resp.Status, resp.Cookies())
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		e, err := s.Lookup(ctx, id)
		if err != nil || e == nil || e.Principal == nil || e.Principal.Name != tomcat.RealmUser {
			return fmt.Errorf("Go's entry %+v, %v", e, err)
		}
		return nil
	})
}
