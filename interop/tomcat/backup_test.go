package tomcatinterop_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
)

// splitCounter returns the counter of a /counter answer ("id counter").
func splitCounter(t *testing.T, out string) (id, n string) {
	t.Helper()
	id, n, ok := strings.Cut(out, " ")
	if !ok {
		t.Fatalf("/counter answered %q", out)
	}
	return id, n
}

// sessionCounter returns the counter attribute of the session the Go map holds under id,
// getting it as the map does (a proxy fetches it from its backup and becomes primary).
func sessionCounter(t *testing.T, m *replmap.Map, id string) (*backup.Session, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	v, ok, err := m.Get(ctx, id)
	if err != nil || !ok {
		t.Fatalf("Go get %s: ok %v, %v", id, ok, err)
	}
	s, isSession := v.(*backup.Session)
	if !isSession {
		t.Fatalf("Go holds %T for %s", v, id)
	}
	n, ok, err := s.Get("counter")
	if err != nil || !ok {
		t.Fatalf("session %s: counter %v %v", id, ok, err)
	}
	c, ok := n.(int)
	if !ok {
		t.Fatalf("session %s: counter %T", id, n)
	}
	return s, c
}

// goCounter is the counter page of the test webapp for the Go node: it adds one to the
// session's java.lang.Integer "counter", creating the session, and prints "id counter".
var goCounter = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	s, err := backup.FromContext(r.Context()).Create()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	n, _, err := s.Get("counter")
	c, _ := n.(int)
	if err == nil {
		err = s.Set("counter", c+1)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, s.ID(), c+1)
})

// goGet requests the Go page with the session cookie id (none if empty) and returns the
// trimmed body and the session cookie it set.
func goGet(t *testing.T, url, id string) (string, *http.Cookie) {
	t.Helper()
	code, body, cookie := httpGet(t, url+"/counter", id)
	if code != http.StatusOK {
		t.Fatalf("Go page: %d %s", code, body)
	}
	return body, cookie
}

// httpGet requests url with the session cookie id (none if empty) and returns the
// status, the trimmed body and the session cookie the answer set.
func httpGet(t *testing.T, url, id string) (int, string, *http.Cookie) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.AddCookie(tomcat.SessionCookie(id))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == backup.CookieName {
			cookie = c
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), cookie
}

// backedUpOnGo creates sessions on tc until Go's map m is the backup of one (Tomcat
// picks backups in turn) and returns its id.
func backedUpOnGo(t *testing.T, tc *tomcat.Node, m *replmap.Map) string {
	t.Helper()
	for range 6 {
		before := m.Len()
		out, err := tc.Get("/counter", nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Len() > before { // a backup holds the value; a proxy does not
			id, _ := splitCounter(t, out)
			return id
		}
	}
	t.Fatalf("Tomcat %s made Go the backup of none of 6 new sessions", tc.Route)
	return ""
}

// TestBackupManager runs two Tomcat nodes with BackupManager and a Go node in their
// map "localhost#/app-map": a session Tomcat created is read on Go (which becomes its
// primary), incremented there and replicated as a diff, and Tomcat reads the new value
// and increments it again, which Go reads; a Tomcat change reaches Go as a diff when Go
// is the backup, and so does its use without changes; a client moves between Tomcat
// nodes and the Go counter page behind backup.Manager's middleware; Go's MSG_ACCESS keeps
// a session only read on Go alive on its Tomcat backup; a session Go created is read and
// incremented on Tomcat;
// Go takes over the session it backs up for a Tomcat node that is killed, and Tomcat
// serves the sessions of the Go node once it stops.
func TestBackupManager(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	ports := testutil.FreePorts(t, 5) // two Tomcat receivers and HTTP ports, the Go receiver
	a := tomcat.Config{Route: "A", Port: ports[0], HTTPPort: ports[1], UniqueID: uid(1), BackupManager: true, SendOption: 6,
		ExpireEverySecond: true}
	b := tomcat.Config{Route: "B", Port: ports[2], HTTPPort: ports[3], UniqueID: uid(2), BackupManager: true, SendOption: 6,
		ExpireEverySecond: true}
	goMember := tomcat.Member{Port: ports[4], UniqueID: uid(3)}
	a.Members = []tomcat.Member{{Port: b.Port, UniqueID: b.UniqueID}, goMember}
	b.Members = []tomcat.Member{{Port: a.Port, UniqueID: a.UniqueID}, goMember}
	ta, tb := tomcat.Launch(t, dir, app, a), tomcat.Launch(t, dir, app, b)
	ta.Wait(t)
	tb.Wait(t)

	ch := startChannel(t, goMember.Port, goMember.UniqueID, []tomcat.Member{{Port: a.Port, UniqueID: a.UniqueID},
		{Port: b.Port, UniqueID: b.UniqueID}}, nio.DefaultConfig())
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := ch.WaitForMembers(wctx, 2); err != nil {
		t.Fatal(err)
	}
	mgr, err := backup.NewManager(backup.Config{Channel: ch, Name: appName, JvmRoute: "go", CookiePath: "/app",
		ExpireInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Stop(context.Background()) })
	if err := mgr.Start(wctx); err != nil {
		t.Fatal(err)
	}
	m := mgr.Map()
	// Both Tomcat maps count the Go node once a session each creates reaches it (as its
	// backup or as a proxy).
	var ids [2]string
	for i, tc := range []*tomcat.Node{ta, tb} {
		testutil.Eventually(t, 60*time.Second, func() error {
			out, err := tc.Get("/counter", nil)
			if err != nil {
				return err
			}
			id, n := splitCounter(t, out)
			if n != "1" {
				t.Fatalf("new session on %s: %q", tc.Route, out)
			}
			if !slices.Contains(m.Keys(), any(id)) {
				return fmt.Errorf("Go's map lacks %s of %s (members %v)", id, tc.Route, m.Members())
			}
			ids[i] = id
			return nil
		})
	}

	t.Run("TomcatToGoToTomcat", func(t *testing.T) {
		id := ids[0]
		s, n := sessionCounter(t, m, id)
		if n != 1 || s.ID() != id {
			t.Fatalf("Go reads session %s counter %d, want %s 1", s.ID(), n, id)
		}
		if !s.Primary() {
			t.Error("the session is not primary on Go after Get")
		}
		if err := s.Set("counter", n+1); err != nil {
			t.Fatal(err)
		}
		if err := m.Replicate(ctx, id, false); err != nil {
			t.Fatal(err)
		}
		// Tomcat A no longer holds the session (Go's Get made it a proxy): it fetches the
		// session from its backup, which applied Go's diff.
		out, err := ta.Get("/counter", tomcat.SessionCookie(id))
		if err != nil {
			t.Fatal(err)
		}
		if gotID, c := splitCounter(t, out); gotID != id || c != "3" {
			t.Fatalf("Tomcat A after Go's increment: %q, want %s 3", out, id)
		}
		// And back: Tomcat's diff reaches Go.
		if _, n := sessionCounter(t, m, id); n != 3 {
			t.Fatalf("Go reads counter %d after Tomcat's increment, want 3", n)
		}
	})

	t.Run("TomcatDiffToGo", func(t *testing.T) {
		// A session whose backup is Go (Tomcat picks backups in turn): Tomcat's change
		// reaches Go as a diff, which Go applies to the session it holds.
		id := backedUpOnGo(t, ta, m)
		out, err := ta.Get("/counter", tomcat.SessionCookie(id))
		if err != nil || out != id+" 2" {
			t.Fatalf("Tomcat A: %q %v", out, err)
		}
		// Go's Get of the session it backs up returns the value it holds.
		if _, n := sessionCounter(t, m, id); n != 2 {
			t.Fatalf("Go reads counter %d after Tomcat's diff, want 2", n)
		}
		if st := m.Stats(); st.DiffsNotApplied != 0 {
			t.Errorf("%d diffs not applied on Go", st.DiffsNotApplied)
		}
	})

	t.Run("TomcatUseToGo", func(t *testing.T) {
		// A session Go backs up, only read on Tomcat: Tomcat 10.1 still sends a diff
		// after every request (its DeltaRequest records the new flag going false), which
		// marks Go's copy used, so Go's backup does not expire a session in use.
		id := backedUpOnGo(t, ta, m)
		v, _, ok := m.Peek(id)
		if !ok {
			t.Fatal("Go holds no copy")
		}
		s := v.(*backup.Session)
		before := s.LastAccessedTime()
		testutil.Eventually(t, within, func() error {
			if _, err := ta.Get("/get?name=counter", tomcat.SessionCookie(id)); err != nil { // no change
				return err
			}
			if at := s.LastAccessedTime(); !at.After(before) {
				return fmt.Errorf("Go's copy last used at %v, as when it arrived", at)
			}
			return nil
		})
		if v, primary, ok := m.Peek(id); !ok || primary || v != s || s.IsNew() {
			t.Errorf("Go's copy after the use: held %v, primary %v, new %v", ok, primary, s.IsNew())
		}
		if st := m.Stats(); st.DiffsNotApplied != 0 {
			t.Errorf("%d diffs not applied on Go", st.DiffsNotApplied)
		}
	})

	t.Run("Middleware", func(t *testing.T) {
		// The counter page on Go, behind the manager's middleware: a client goes from
		// Tomcat A to Go to Tomcat B and back to Go with its cookie. Each node binds the
		// session to its own route (Tomcat's JvmRouteBinderValve, Go's binder), and the
		// others follow the rename.
		srv := httptest.NewServer(mgr.Wrap(goCounter))
		defer srv.Close()
		out, err := ta.Get("/counter", nil)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := splitCounter(t, out)
		gid := strings.TrimSuffix(id, ".A") + ".go"
		body, cookie := goGet(t, srv.URL, id)
		if body != gid+" 2" || cookie == nil || cookie.Value != gid || cookie.Path != "/app" {
			t.Fatalf("Go page: %q, cookie %+v; want %s 2, renamed to Go's route", body, cookie, gid)
		}
		if slices.Contains(m.Keys(), any(id)) {
			t.Errorf("Go's map still holds %s after the rename", id)
		}
		out, err = tb.Get("/counter", tomcat.SessionCookie(gid))
		if err != nil {
			t.Fatal(err)
		}
		bid, c := splitCounter(t, out) // B finds Go's new id and binds it to its route
		if c != "3" || bid != strings.TrimSuffix(id, ".A")+".B" {
			t.Fatalf("Tomcat B after Go's request: %q, want %s 3", out, strings.TrimSuffix(id, ".A")+".B")
		}
		if body, cookie := goGet(t, srv.URL, bid); body != gid+" 4" || cookie == nil || cookie.Value != gid {
			t.Fatalf("Go page after Tomcat B: %q, cookie %+v; want %s 4", body, cookie, gid)
		}
		// Tomcat A dropped the old id with Go's first rename: its page starts a new session.
		out, err = ta.Get("/counter", tomcat.SessionCookie(id))
		if err != nil {
			t.Fatal(err)
		}
		if aid, c := splitCounter(t, out); aid == id || c != "1" {
			t.Fatalf("Tomcat A with the old id %s: %q, want a new session", id, out)
		}
		// A session the Go page creates carries Go's route and reaches Tomcat.
		body, cookie = goGet(t, srv.URL, "")
		if cookie == nil || !strings.HasSuffix(cookie.Value, ".go") || cookie.Path != "/app" || body != cookie.Value+" 1" {
			t.Fatalf("new Go session: %q, cookie %+v", body, cookie)
		}
		if out, err := ta.Get("/counter", tomcat.SessionCookie(cookie.Value)); err != nil || !strings.HasSuffix(out, " 2") {
			t.Fatalf("Tomcat A reads the Go page's session: %q %v, want counter 2", out, err)
		}
	})

	t.Run("Principal", func(t *testing.T) {
		// A user who logs in on Tomcat A (request.login against its realm) is logged in
		// wherever the session goes: Go reads the principal from the map, and Tomcat B's
		// authenticator finds it in the session.
		out, err := ta.Get("/counter", nil)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := splitCounter(t, out)
		out, err = ta.Get("/login?user="+tomcat.RealmUser+"&pw="+tomcat.RealmPassword, tomcat.SessionCookie(id))
		if err != nil {
			t.Fatal(err)
		}
		id, name := splitCounter(t, out) // the session got a new id at login
		if name != tomcat.RealmUser {
			t.Fatalf("Tomcat A's login: %q", out)
		}
		testutil.Eventually(t, within, func() error {
			if !slices.Contains(m.Keys(), any(id)) {
				return fmt.Errorf("Go's map lacks %s", id)
			}
			return nil
		})
		s, _ := sessionCounter(t, m, id)
		if p := s.Principal(); p == nil || p.Name != tomcat.RealmUser || !p.HasRole("dev") || !p.HasRole("admin") {
			t.Fatalf("Go reads the principal %+v", p)
		}
		want := tomcat.RealmUser + " dev=true admin=true"
		if out, err := tb.Get("/whoami", tomcat.SessionCookie(id)); err != nil || out != want {
			t.Fatalf("Tomcat B: %q %v, want %q", out, err, want)
		}

		// A user a Go handler authenticated is logged in on Tomcat.
		srv := httptest.NewServer(mgr.Wrap(goCounter))
		defer srv.Close()
		_, cookie := goGet(t, srv.URL, "")
		gs, _ := sessionCounter(t, m, cookie.Value)
		if err := gs.SetPrincipal(&delta.Principal{Name: "gopher", Roles: []string{"dev"}}); err != nil {
			t.Fatal(err)
		}
		gs.SetAuthType("FORM")
		if err := m.Replicate(ctx, cookie.Value, false); err != nil {
			t.Fatal(err)
		}
		if out, err := ta.Get("/whoami", tomcat.SessionCookie(cookie.Value)); err != nil || out != "gopher dev=true admin=false" {
			t.Fatalf("Tomcat A with Go's session: %q %v, want gopher with the role dev only", out, err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		gone := func(tc *tomcat.Node, id string) {
			t.Helper()
			if out, err := tc.Get("/get?name=counter", tomcat.SessionCookie(id)); err == nil {
				t.Errorf("Tomcat %s still serves expired session %s: %q", tc.Route, id, out)
			}
		}
		// A session Tomcat A is the primary of, of which Go holds only a proxy (no copy it
		// could expire itself): Tomcat A expires it after its max inactive interval and
		// removes it from the map, on Go too.
		var id string
		for range 6 {
			before := m.Len()
			out, err := ta.Get("/counter", nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Len() == before { // a proxy holds no value
				id, _ = splitCounter(t, out)
				break
			}
		}
		if id == "" {
			t.Fatal("Tomcat A made Go the backup of each of 6 new sessions")
		}
		if out, err := ta.Get("/maxinactive?s=1", tomcat.SessionCookie(id)); err != nil || out != "1" {
			t.Fatalf("max inactive interval on Tomcat A: %q %v", out, err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			if slices.Contains(m.Keys(), any(id)) {
				return fmt.Errorf("Go's map still knows %s", id)
			}
			return nil
		})
		if n := mgr.Stats().Expired; n != 0 {
			t.Errorf("Go counts %d expiries of its own", n)
		}

		// A session Go is the primary of: Go's sweep expires it and removes it from the
		// map, on both Tomcat nodes (their backup copy would only expire after twice the
		// interval).
		srv := httptest.NewServer(mgr.Wrap(goCounter))
		defer srv.Close()
		_, cookie := goGet(t, srv.URL, "")
		gs, _ := sessionCounter(t, m, cookie.Value)
		gs.SetMaxInactive(3 * time.Second)
		if err := m.Replicate(ctx, cookie.Value, false); err != nil {
			t.Fatal(err)
		}
		// Expired counts the removal once both Tomcat nodes acknowledged it (the map's
		// messages wait for the members to process them).
		testutil.EventuallyTrue(t, 30*time.Second, "Go expired the session", func() bool {
			return mgr.Stats().Expired == 1
		})
		if slices.Contains(m.Keys(), any(cookie.Value)) {
			t.Fatalf("Go's map still holds %s", cookie.Value)
		}
		gone(ta, cookie.Value)
		gone(tb, cookie.Value)
	})

	t.Run("GoUseToTomcat", func(t *testing.T) {
		// A session Go is the primary of, only read on Go for three times its max inactive
		// interval: once per interval Go sends its Tomcat backup MSG_ACCESS, which marks
		// the copy used. Without it the backup would expire its copy after twice the
		// interval, and Tomcat's expiry removes the session from every map, Go's too.
		mux := http.NewServeMux()
		mux.Handle("/counter", goCounter)
		mux.HandleFunc("/peek", func(w http.ResponseWriter, r *http.Request) {
			s, err := backup.FromContext(r.Context()).Session()
			if err != nil || s == nil {
				http.Error(w, fmt.Sprint("no session ", err), http.StatusNotFound)
				return
			}
			n, _, err := s.Get("counter")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, s.ID(), n)
		})
		srv := httptest.NewServer(mgr.Wrap(mux))
		defer srv.Close()
		// The run shows something only if the session's uses came well within the
		// interval of each other, as the client's pace means them to: Go expires its
		// primary idle for the interval, and the backup's copy is touched only by the
		// MSG_ACCESS of a use after the interval. A run whose uses were not (the gap
		// from one's start to the next one's end, measured, reached half the interval: a
		// loaded machine stalled the client, Go or Tomcat) proves nothing, whatever its
		// result: it is run again with twice the interval, from 2 s.
		const maxInterval = 16 * time.Second
		for interval := 2 * time.Second; ; interval *= 2 {
			gap, err := useOnlyOnGo(t, srv.URL, m, ta, interval)
			if err == nil {
				t.Logf("max inactive %v: uses at most %v apart", interval, gap.Round(time.Millisecond))
				return
			}
			if gap < interval/2 {
				t.Fatalf("max inactive %v, uses at most %v apart: %v", interval, gap.Round(time.Millisecond), err)
			}
			if interval >= maxInterval {
				t.Fatalf("uses %v apart, up to max inactive %v: the reads never came within half the interval: %v",
					gap.Round(time.Millisecond), interval, err)
			}
			t.Logf("max inactive %v: uses %v apart, not within half of it (%v); again with %v",
				interval, gap.Round(time.Millisecond), err, 2*interval)
		}
	})

	t.Run("GoToTomcat", func(t *testing.T) {
		id := strings.ToUpper(rand.Text()) + ".go"
		s := backup.NewSession(id, 0, backup.Limits{})
		if err := s.Set("counter", 10); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Put(ctx, id, s); err != nil {
			t.Fatal(err)
		}
		// Tomcat B binds the session to its route (JvmRouteBinderValve renames it).
		out, err := tb.Get("/counter", tomcat.SessionCookie(id))
		if err != nil {
			t.Fatal(err)
		}
		newID, c := splitCounter(t, out)
		if c != "11" || !strings.HasPrefix(newID, strings.TrimSuffix(id, ".go")) {
			t.Fatalf("Tomcat B reads the Go session %s as %q, want its id with B's route and 11", id, out)
		}
		testutil.EventuallyTrue(t, within, "Go's map has the renamed session", func() bool {
			return slices.Contains(m.Keys(), any(newID))
		})
		if _, n := sessionCounter(t, m, newID); n != 11 {
			t.Fatalf("Go reads counter %d of %s, want 11", n, newID)
		}
	})

	t.Run("TomcatKilled", func(t *testing.T) {
		// Tomcat A dies: Go, the backup of one of its sessions, becomes the primary and
		// publishes it to Tomcat B, which serves it.
		id := backedUpOnGo(t, ta, m)
		ta.Kill()
		testutil.EventuallyTrue(t, 90*time.Second, "Go primary of "+id+" after Tomcat A died", func() bool {
			_, primary, ok := m.Peek(id)
			return ok && primary
		})
		out, err := tb.Get("/counter", tomcat.SessionCookie(id))
		if err != nil {
			t.Fatal(err)
		}
		if _, c := splitCounter(t, out); c != "2" {
			t.Fatalf("Tomcat B serves the dead node's session as %q, want counter 2", out)
		}
	})

	t.Run("GoLeaves", func(t *testing.T) {
		// The Go node stops: Tomcat B, the backup of the sessions Go is the primary of,
		// serves them with their last value.
		srv := httptest.NewServer(mgr.Wrap(goCounter))
		defer srv.Close()
		body, cookie := goGet(t, srv.URL, "")
		if cookie == nil || body != cookie.Value+" 1" {
			t.Fatalf("new Go session: %q, cookie %+v", body, cookie)
		}
		if body, _ = goGet(t, srv.URL, cookie.Value); body != cookie.Value+" 2" {
			t.Fatalf("Go session: %q, want counter 2", body)
		}
		// MSG_STOP goes to every channel member; the channel may still list the killed
		// Tomcat A, which cannot take it.
		if err := mgr.Stop(ctx); err != nil {
			for _, f := range channel.FaultyMembers(err) {
				if int(f.Member.Port) != a.Port {
					t.Fatal(err)
				}
			}
			if len(channel.FaultyMembers(err)) == 0 {
				t.Fatal(err)
			}
		}
		out, err := tb.Get("/counter", tomcat.SessionCookie(cookie.Value))
		if err != nil {
			t.Fatal(err)
		}
		if _, c := splitCounter(t, out); c != "3" {
			t.Fatalf("Tomcat B serves the stopped Go node's session as %q, want counter 3", out)
		}
	})
}

// useOnlyOnGo creates a session on the Go page srv (Go's map m its primary), sets its max
// inactive interval and reads it on Go, at an eighth of the interval, for three times the
// interval; then Tomcat tc reads it. It returns the error of the first use that failed,
// or nil, and the longest time from the start of one use to the end of the next (the
// first: the Go page's creating request; Go's Replicate of the new interval; each read;
// Go's map still the primary; Tomcat's read), beyond which a use may come after the
// session's last one was an interval old.
func useOnlyOnGo(t *testing.T, srv string, m *replmap.Map, tc *tomcat.Node, interval time.Duration) (time.Duration, error) {
	t.Helper()
	var gap time.Duration
	last := time.Now() // the start of the previous use
	use := func(f func() error) error {
		start := time.Now()
		err := f()
		gap = max(gap, time.Since(last))
		last = start
		return err
	}
	var id string
	if err := use(func() error {
		body, cookie := goGet(t, srv, "")
		if cookie == nil || body != cookie.Value+" 1" {
			return fmt.Errorf("new Go session: %q, cookie %+v", body, cookie)
		}
		id = cookie.Value
		return nil
	}); err != nil {
		return gap, err
	}
	if err := use(func() error {
		gs, _ := sessionCounter(t, m, id)
		gs.SetMaxInactive(interval)
		return m.Replicate(context.Background(), id, false)
	}); err != nil {
		return gap, err
	}
	// Tomcat expires a backup copy idle for twice the interval, looking every second.
	tick := time.NewTicker(interval / 8) // the client's pace
	defer tick.Stop()
	for start := time.Now(); time.Since(start) < 3*interval; <-tick.C {
		if err := use(func() error {
			if code, body, _ := httpGet(t, srv+"/peek", id); code != http.StatusOK || body != id+" 1" {
				return fmt.Errorf("Go page after %v of reads: %d %q, want %s 1", time.Since(start).Round(time.Millisecond), code, body, id)
			}
			return nil
		}); err != nil {
			return gap, err
		}
	}
	if err := use(func() error {
		if _, primary, ok := m.Peek(id); !ok || !primary {
			return fmt.Errorf("Go's map after the reads: held %v, primary %v", ok, primary)
		}
		return nil
	}); err != nil {
		return gap, err
	}
	// Tomcat serves it (from its copy, or from the other Tomcat node's; a first request
	// renames it to tc's route, so one Tomcat node is asked).
	return gap, use(func() error {
		if out, err := tc.Get("/get?name=counter", tomcat.SessionCookie(id)); err != nil || out != "java.lang.Integer|1" {
			return fmt.Errorf("Tomcat %s reads %s: %q %v, want the counter 1", tc.Route, id, out, err)
		}
		return nil
	})
}
