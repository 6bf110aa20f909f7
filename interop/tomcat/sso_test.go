package tomcatinterop_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/counter"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// ssoCookie is a single sign-on cookie for a request to Tomcat.
func ssoCookie(id string) *http.Cookie { return &http.Cookie{Name: sso.DefaultCookieName, Value: id} }

// tomcatLogin logs the realm's user in on Tomcat's test page and returns the single
// sign-on id and the session id the answer's cookies set.
func tomcatLogin(t *testing.T, ta *tomcat.Node) (id, session string) {
	t.Helper()
	resp, err := http.Get(ta.URL + "/login?user=" + tomcat.RealmUser + "&pw=" + tomcat.RealmPassword)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		switch c.Name {
		case sso.DefaultCookieName:
			id = c.Value
		case tomcat.SessionCookie("").Name:
			session = c.Value
		}
	}
	if resp.StatusCode != http.StatusOK || id == "" || session == "" {
		t.Fatalf("login on Tomcat: %s, cookies %v", resp.Status, resp.Cookies())
	}
	return id, session
}

// TestClusterSingleSignOn runs a Tomcat 10.1 node with ClusterSingleSignOn (ssoNode) and
// a Go node in its single sign-on map: a user who logs in on Tomcat is signed on on Go (the Go
// page behind sso.Wrap sees the principal with its roles), an entry Go changes goes back
// to Tomcat with the sessions Tomcat recorded in it, Tomcat's logout signs the user off on
// Go, a user Go signs on is the logged-in user of Tomcat's pages, and Go's sign-off logs
// the user out on Tomcat.
func TestClusterSingleSignOn(t *testing.T) {
	ctx := context.Background()
	ta, ch := ssoTomcatAndGo(t, uid(43))
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
		tomcatID, tomcatSession = tomcatLogin(t, ta)
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
	id, _ := tomcatLogin(t, ta)
	testutil.Eventually(t, 30*time.Second, func() error {
		e, err := s.Lookup(ctx, id)
		if err != nil || e == nil || e.Principal == nil || e.Principal.Name != tomcat.RealmUser {
			return fmt.Errorf("Go's entry %+v, %v", e, err)
		}
		return nil
	})
}

// TestClusterSingleSignOnSessions: single logout across Tomcat (ssoNode) and Go. The Go
// node shares the sessions of Tomcat's /app (a delta manager with the Java codec) and has a context
// of its own, /goapp; its SSO ends the sessions of an entry signed off
// (sso.ExpireSessions). A sign-off on Go ends the Tomcat session that Tomcat associated
// with the user's entry (Go invalidates its copy, which Tomcat's DeltaManager applies); a
// Go session associated with an entry (SSO.Associate, read by Tomcat in the entry it
// replicates) ends when the user logs out on Tomcat.
func TestClusterSingleSignOnSessions(t *testing.T) {
	ctx := context.Background()
	ta, ch := ssoTomcatAndGo(t, uid(73))
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	g := newGoNode(t, ch, delta.JavaCodec{}, delta.Config{JvmRoute: "G"})
	// Only Go serves /goapp: Tomcat answers its state request that it has no such
	// context, after which the manager would wait DefaultMemberWait (3 s) for another
	// member to ask; with MemberWait negative it is ready at once.
	goApp, err := g.cl.NewManager(delta.Config{Name: "localhost#/goapp", JvmRoute: "G", Codec: delta.JavaValueCodec{},
		Replication: delta.ReplicateAcked, MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*delta.Manager{g.m, goApp} {
		if err := m.Start(wctx); err != nil {
			t.Fatal(err)
		}
		if err := m.WaitReady(wctx); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var signedOff [][]sso.SessionKey
	expire := sso.ExpireSessions(g.m, goApp)
	s, err := sso.New(sso.Config{Channel: ch, SignedOff: func(ctx context.Context, id string, e *sso.Entry) error {
		mu.Lock()
		signedOff = append(signedOff, e.SessionKeys())
		mu.Unlock()
		return expire(ctx, id, e)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(wctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })

	// login logs in on Tomcat and waits until Go holds the entry with the login's
	// session, and a copy of that session; it returns the entry's id and the session's.
	login := func(t *testing.T) (id, session string) {
		t.Helper()
		id, session = tomcatLogin(t, ta)
		want := sso.SessionKey{ID: session, Context: "/app", Host: "localhost"}
		testutil.Eventually(t, 30*time.Second, func() error {
			e, err := s.Lookup(ctx, id)
			if err != nil || e == nil || !slices.Contains(e.SessionKeys(), want) {
				return fmt.Errorf("Go's entry %+v (%v), want the session %+v", e, err, want)
			}
			if g.m.Find(session) == nil {
				return fmt.Errorf("Go has no copy of Tomcat's session %s", session)
			}
			return nil
		})
		return id, session
	}
	// onTomcat reports whether Tomcat still has the session.
	onTomcat := func(session string) bool {
		out, err := ta.Get("/get?name=counter", tomcat.SessionCookie(session))
		return err == nil && out == "-"
	}

	t.Run("GoSignOffEndsTomcatSession", func(t *testing.T) {
		id, session := login(t)
		if !onTomcat(session) {
			t.Fatal("Tomcat does not serve the login's session")
		}
		if err := s.Deregister(ctx, id); err != nil {
			t.Fatal(err)
		}
		if g.m.Find(session) != nil {
			t.Error("Go's copy of the session outlived the sign-off")
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			if onTomcat(session) {
				return fmt.Errorf("Tomcat still has the session %s", session)
			}
			return nil
		})
	})

	t.Run("GoListenerOnTomcat", func(t *testing.T) {
		// A user Go signs on reaches Go's /app (the context Tomcat shares): Go's
		// AssociateDelta adds the session to the entry and attaches the entry's listener,
		// which travels to Tomcat as its ClusterSingleSignOnListener. The session's
		// logout on Tomcat then signs the user off by Tomcat's own listener: Tomcat
		// removes the entry from the map, Go's map loses it. (Go's copy ends by Tomcat's
		// message, which changes nothing on Go.)
		id, err := s.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: tomcat.RealmUser, Roles: []string{"dev"}},
			AuthType: "BASIC"})
		if err != nil {
			t.Fatal(err)
		}
		mw, err := delta.NewMiddleware(g.m, delta.HTTPConfig{})
		if err != nil {
			t.Fatal(err)
		}
		page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sess, n, err := counter.Next(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, "%s %d\n", sess.ID(), n)
		})
		srv := httptest.NewServer(s.Wrap(mw.Wrap(s.AssociateDelta(page, "localhost", "/app"))))
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/app/counter", nil)
		req.AddCookie(ssoCookie(id))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		session, n, _ := strings.Cut(strings.TrimSpace(string(body)), " ")
		if resp.StatusCode != http.StatusOK || n != "1" {
			t.Fatalf("Go's page: %s %q", resp.Status, body)
		}
		if e, err := s.Lookup(ctx, id); err != nil || e == nil ||
			!slices.Contains(e.SessionKeys(), sso.SessionKey{ID: session, Context: "/app", Host: "localhost"}) {
			t.Fatalf("Go's entry after the request: %+v %v", e, err)
		}
		mu.Lock()
		before := len(signedOff)
		mu.Unlock()
		if out, err := ta.Get("/invalidate", tomcat.SessionCookie(session)); err != nil || out != "invalidated" {
			t.Fatalf("invalidate on Tomcat: %q %v\n%s", out, err, ta.Log())
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			if e, err := s.Lookup(ctx, id); err != nil || e != nil {
				return fmt.Errorf("Go's map still holds the entry %s: %+v %v", id, e, err)
			}
			return nil
		})
		mu.Lock()
		calls := slices.Clone(signedOff[before:])
		mu.Unlock()
		if len(calls) != 1 {
			t.Errorf("SignedOff calls on Go for Tomcat's sign-off: %v", calls)
		}
	})

	t.Run("TomcatLogoutEndsGoSession", func(t *testing.T) {
		id, session := login(t)
		own, err := goApp.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		key := sso.SessionKey{ID: own.ID(), Context: "/goapp", Host: "localhost"}
		if err := s.Associate(ctx, id, key); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		before := len(signedOff)
		mu.Unlock()
		// The login's session ends by a logout: Tomcat signs the user off, expiring the
		// sessions of the entry it holds.
		if out, err := ta.Get("/invalidate", tomcat.SessionCookie(session)); err != nil || out != "invalidated" {
			t.Fatalf("invalidate on Tomcat: %q %v", out, err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			if goApp.Find(own.ID()) != nil {
				return fmt.Errorf("Go's /goapp session %s is still there", own.ID())
			}
			return nil
		})
		mu.Lock()
		calls := slices.Clone(signedOff[before:])
		mu.Unlock()
		if len(calls) != 1 || !slices.Contains(calls[0], key) {
			t.Errorf("SignedOff calls for Tomcat's logout: %v", calls)
		}
		// Tomcat held the Go session in its entry: it tried to expire it and found no
		// such context (a warning in the Host's log, logs/localhost.<date>.log).
		testutil.Eventually(t, 10*time.Second, func() error {
			logs, _ := filepath.Glob(filepath.Join(ta.Base, "logs", "localhost.*.log"))
			for _, f := range logs {
				if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), own.ID()) {
					return nil
				}
			}
			return fmt.Errorf("the Host's log (%v) does not name the Go session %s: Tomcat's entry did not list it", logs, own.ID())
		})
	})
}
