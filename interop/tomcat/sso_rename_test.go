package tomcatinterop_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/counter"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
	"github.com/gotribes/tribes/transport/nio"
)

// startGoSSO starts a Go node with a manager of cfg on ch and an SSO wired as
// docs/tomcat.md shows: the SSO's SignedOff is ExpireSessions of the manager, and
// SSO.Listeners is the manager's NamedListener (so the entry follows its sessions' ends
// and id changes).
func startGoSSO(t *testing.T, ch *channel.Channel, cfg delta.Config) (*goNode, *sso.SSO) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var s *sso.SSO // set before the manager starts, and with it its listeners
	cfg.NamedListener = func(name string) delta.SessionListener { return s.Listeners("localhost", "/app")(name) }
	g := newGoNode(t, ch, delta.JavaCodec{}, cfg)
	s, err := sso.New(sso.Config{Channel: ch, SignedOff: sso.ExpireSessions(g.m)})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return g, s
}

// TestSSOSignOffAfterIDChange: a user logs in on Tomcat with ClusterSingleSignOn;
// the application then changes the login session's id (HttpServletRequest.changeSessionId,
// as after a privilege change; Tomcat's JvmRouteBinderValve renames the same way). By its
// source (Tomcat 10.1 SingleSignOnListener on SESSION_CHANGED_ID_EVENT, fired also for a
// rename received from another node, calls SingleSignOn.sessionChangedId), each Tomcat
// node moves the session's key in its copy of the entry to the new id, so its sign-off
// expires the renamed session. A sign-off on Go
// (SSO.Deregister with sso.ExpireSessions, as docs/tomcat.md shows) must end it too:
// otherwise the session keeps the principal Tomcat's authenticator cached in it and the
// user is still logged in on /app after logging out.
func TestSSOSignOffAfterIDChange(t *testing.T) {
	ctx := context.Background()
	ta, ch := ssoTomcatAndGo(t, uid(53))
	g, s := startGoSSO(t, ch, delta.Config{JvmRoute: "G"})

	id, session := tomcatLogin(t, ta)
	testutil.Eventually(t, 30*time.Second, func() error {
		e, err := s.Lookup(ctx, id)
		want := sso.SessionKey{ID: session, Context: "/app", Host: "localhost"}
		if err != nil || e == nil || !slices.Contains(e.SessionKeys(), want) {
			return fmt.Errorf("Go's entry %+v (%v), want the session %+v", e, err, want)
		}
		if g.m.Find(session) == nil {
			return fmt.Errorf("Go has no copy of Tomcat's session %s", session)
		}
		return nil
	})
	// The application changes the signed-on session's id.
	renamed, err := ta.Get("/changeid", tomcat.SessionCookie(session))
	if err != nil || renamed == session {
		t.Fatalf("changeSessionId on Tomcat: %q %v", renamed, err)
	}
	testutil.EventuallyTrue(t, within, "Tomcat's id change on Go", func() bool {
		return g.m.Find(renamed) != nil && g.m.Find(session) == nil
	})
	want := tomcat.RealmUser + " dev=true admin=true"
	if out, err := ta.Get("/whoami", tomcat.SessionCookie(renamed)); err != nil || out != want {
		t.Fatalf("Tomcat before the sign-off: %q %v, want %q", out, err, want)
	}

	e, err := s.Lookup(ctx, id)
	if err != nil || e == nil {
		t.Fatalf("Go's entry before the sign-off: %v %v", e, err)
	}
	keys := e.SessionKeys()
	// The user signs off on Go.
	if err := s.Deregister(ctx, id); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, within, func() error {
		if e, err := s.Lookup(ctx, id); err != nil || e != nil {
			return fmt.Errorf("Go still holds the entry: %+v %v", e, err)
		}
		return nil
	})
	if g.m.Find(renamed) != nil {
		t.Errorf("Go's sign-off left the signed-on session %s (renamed from %s) on Go; Go's entry listed %+v", renamed,
			session, keys)
	}
	// Tomcat's page with the session cookie: still logged in?
	testutil.Eventually(t, within, func() error {
		out, err := ta.Get("/whoami", tomcat.SessionCookie(renamed))
		if err == nil && out != "-" {
			return fmt.Errorf("after signing off on Go, Tomcat's request with the session %s (the login's, renamed by "+
				"changeSessionId) is still logged in as %q", renamed, out)
		}
		return nil
	})
}

// TestSSOSignOffAfterBinderRenames is the same through the jvmRoute binders of a
// migration: a user logs in on Tomcat t1 (ClusterSingleSignOn; ssoNode, which Tomcat t2
// joins), a request reaches the Go node's /app (wired as docs/tomcat.md shows: sso.Wrap,
// the delta middleware, AssociateDelta), whose binder renames the session to .G, then
// Tomcat t2, whose JvmRouteBinderValve renames it to .t2. The user then signs off on Go:
// the session must end on every node (Tomcat's copies of the entry follow both renames,
// see above).
func TestSSOSignOffAfterBinderRenames(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	t1 := ssoNode.get(t)
	goMember, m2 := ssoNode.member(t, uid(58)), ssoNode.member(t, uid(57))
	m1 := tomcat.Member{Port: t1.Port, UniqueID: t1.UniqueID}
	t2 := tomcat.Start(t, dir, app, tomcat.Config{Route: "t2", Port: m2.Port, HTTPPort: testutil.FreePorts(t, 1)[0],
		UniqueID: m2.UniqueID, SendOption: 6, SSO: true, Members: []tomcat.Member{m1, goMember}})
	ch := startChannel(t, goMember.Port, goMember.UniqueID, []tomcat.Member{m1, m2}, nio.DefaultConfig())
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := ch.WaitForMembers(wctx, 2); err != nil {
		t.Fatal(err)
	}
	g, s := startGoSSO(t, ch, delta.Config{JvmRoute: "G", MemberWait: 15 * time.Second})
	for _, tc := range []*tomcat.Node{t1, t2} {
		waitReplicates(t, tc, func(id string) bool { return g.m.Find(id) != nil })
	}
	mw, err := delta.NewMiddleware(g.m, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Wrap(mw.Wrap(s.AssociateDelta(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, n, err := counter.Next(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s %d\n", sess.ID(), n)
	}), "localhost", "/app"))))
	t.Cleanup(srv.Close)

	id, session := tomcatLogin(t, t1)
	testutil.Eventually(t, 30*time.Second, func() error {
		if e, err := s.Lookup(ctx, id); err != nil || e == nil || e.Sessions() == 0 || g.m.Find(session) == nil {
			return fmt.Errorf("Go's entry %+v (%v), session copy %v", e, err, g.m.Find(session) != nil)
		}
		return nil
	})
	base := strings.TrimSuffix(session, ".t1")
	// On Go: the binder renames the session to .G.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/app/counter", nil)
	req.AddCookie(tomcat.SessionCookie(session))
	req.AddCookie(ssoCookie(id))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), base+".G 1") {
		t.Fatalf("Go's page: %s %q", resp.Status, body)
	}
	// On Tomcat t2: its valve renames the session to .t2; the user is logged in there.
	want := tomcat.RealmUser + " dev=true admin=true"
	onT2 := base + ".t2"
	testutil.Eventually(t, within, func() error {
		if out, err := t2.Get("/whoami", tomcat.SessionCookie(base+".G")); err != nil || out != want {
			return fmt.Errorf("t2: %q %v, want %q", out, err, want)
		}
		return nil
	})
	testutil.EventuallyTrue(t, within, "t2's rename on Go", func() bool { return g.m.Find(onT2) != nil })

	// The user signs off on Go.
	e, _ := s.Lookup(ctx, id)
	if err := s.Deregister(ctx, id); err != nil {
		t.Fatal(err)
	}
	if g.m.Find(onT2) != nil {
		t.Errorf("Go's sign-off left the signed-on session %s on Go; Go's entry listed %+v", onT2, e.SessionKeys())
	}
	testutil.Eventually(t, within, func() error {
		for _, tc := range []*tomcat.Node{t1, t2} {
			if out, err := tc.Get("/whoami", tomcat.SessionCookie(onT2)); err == nil && out != "-" {
				return fmt.Errorf("after signing off on Go, %s's request with the session %s is still logged in as %q",
					tc.Route, onT2, out)
			}
		}
		return nil
	})
}
