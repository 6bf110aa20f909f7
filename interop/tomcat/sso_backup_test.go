package tomcatinterop_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// TestBackupListenerOnTomcat: the listener a Go handler attaches to a session/backup
// session (sso.AssociateBackup: Session.AttachListener under the single sign-on id)
// travels to Tomcat's BackupManager as its ClusterSingleSignOnListener. A Tomcat node with
// BackupManager and ClusterSingleSignOn and a Go node share /app's sessions and the single
// sign-on map. A user Go signs on reaches Go's /app, which creates a session, adds it to
// the entry and attaches the entry's listener. Tomcat then reads the session (its
// counter, under the id its JvmRouteBinderValve gives it) and sends it back with the
// listener, and the session's logout on Tomcat signs the user off by Tomcat's own copy
// of the listener: the entry and the session leave Go's maps.
func TestBackupListenerOnTomcat(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	ta, ch := tomcatAndGo(t, dir, app, tomcat.Config{Route: "A", UniqueID: uid(81), SendOption: 6, SSO: true,
		BackupManager: true}, uid(83), staticsvc.DefaultChannelName)
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var s *sso.SSO // set before the manager starts, and with it its listeners
	mgr, err := backup.NewManager(backup.Config{Channel: ch, Name: appName, JvmRoute: "G", CookiePath: "/app",
		NamedListener: func(name string) backup.SessionListener { return s.BackupListeners("localhost", "/app")(name) }})
	if err != nil {
		t.Fatal(err)
	}
	s, err = sso.New(sso.Config{Channel: ch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Stop(context.Background()) })
	if err := mgr.Start(wctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(wctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	m := mgr.Map()
	testutil.Eventually(t, 60*time.Second, func() error {
		if n := len(m.Members()); n != 1 {
			return fmt.Errorf("Go's session map has %d members, want Tomcat", n)
		}
		return nil
	})

	id, err := s.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: tomcat.RealmUser, Roles: []string{"dev"}},
		AuthType: "BASIC"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Wrap(mgr.Wrap(s.AssociateBackup(goCounter, "localhost", "/app"))))
	defer srv.Close()
	session, n := splitCounter(t, httpBody(t, srv.URL+"/app/counter", id))
	if n != "1" {
		t.Fatalf("Go's page: counter %s, want 1", n)
	}
	if e, err := s.Lookup(ctx, id); err != nil || e == nil ||
		!slices.Contains(e.SessionKeys(), sso.SessionKey{ID: session, Context: "/app", Host: "localhost"}) {
		t.Fatalf("Go's entry after the request: %+v %v", e, err)
	}

	// Tomcat reads the session from its backup copy (Go's map made Tomcat its backup),
	// renames it to its route and sends it back to Go, its backup now: with the listener.
	out, err := ta.Get("/counter", tomcat.SessionCookie(session))
	if err != nil {
		t.Fatalf("Tomcat's /counter: %v\n%s", err, ta.Log())
	}
	renamed, n := splitCounter(t, out)
	if n != "2" || !strings.HasSuffix(renamed, ".A") {
		t.Fatalf("Tomcat's /counter with Go's session %s: %q, want the session renamed to route A with counter 2\n%s",
			session, out, ta.Log())
	}
	testutil.Eventually(t, within, func() error {
		v, _, ok := m.Peek(renamed)
		bs, isSession := v.(*backup.Session)
		if !ok || !isSession {
			return fmt.Errorf("Go holds no copy of %s (%T)", renamed, v)
		}
		if c, _, _ := bs.Get("counter"); c != 2 || !slices.Equal(bs.Listeners(), []string{id}) {
			return fmt.Errorf("Go's copy of %s from Tomcat: counter %v, listeners %q; want 2, [%s]", renamed, c,
				bs.Listeners(), id)
		}
		return nil
	})

	// The session's logout on Tomcat: Tomcat's listener signs the user off, and Tomcat
	// removes the entry from the single sign-on map.
	if out, err := ta.Get("/invalidate", tomcat.SessionCookie(renamed)); err != nil || out != "invalidated" {
		t.Fatalf("invalidate on Tomcat: %q %v\n%s", out, err, ta.Log())
	}
	testutil.Eventually(t, within, func() error {
		if e, err := s.Lookup(ctx, id); err != nil || e != nil {
			return fmt.Errorf("Go's map still holds the entry %s: %+v %v", id, e, err)
		}
		if _, _, ok := m.Peek(renamed); ok {
			return fmt.Errorf("Go still holds the session %s", renamed)
		}
		return nil
	})
}
