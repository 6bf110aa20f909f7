package tomcatinterop_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/counter"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/session/delta"
)

// TestSessionAccessKeepsCopies: a session only read, never changed, for three times its
// max inactive interval stays alive on the other node, in both directions; each side
// expires a copy idle for twice the interval (Tomcat every second here, Go every 250 ms),
// so without a message per interval the copy would be gone in the middle of the reads.
// Go's manager sends EVT_SESSION_ACCESSED once a session used on it went unreplicated
// for longer than its interval, and Tomcat's copy takes it as a use. Tomcat 10.1 sends
// EVT_SESSION_DELTA after every request that used a session, read-only ones included
// (its DeltaRequest records the new flag going false), so it never sends
// EVT_SESSION_ACCESSED after such a request; Go's copy takes those deltas as uses. A
// read on Tomcat of a session Go served last makes Tomcat its primary (it renames it to
// its route first) and Go's copy a backup; a read on Go then (renaming it back to Go's
// route) sends Tomcat EVT_SESSION_ACCESSED at once: the primary changed.
func TestSessionAccessKeepsCopies(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	const interval = 2 * time.Second
	ta, ch := tomcatAndGo(t, dir, app, tomcat.Config{Route: "t1", UniqueID: uid(1), ExpireEverySecond: true}, uid(2),
		staticsvc.DefaultChannelName)
	g := newGoNode(t, ch, delta.JavaCodec{}, delta.Config{JvmRoute: "go1", MemberWait: 15 * time.Second,
		ExpireInterval: 250 * time.Millisecond})
	if err := g.m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := g.m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	tomcatCounter := func(name string) int {
		t.Helper()
		out, err := ta.Get("/manager?attr="+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("%s: %q", name, out)
		}
		return n
	}
	// readFor reads the session every interval/8 for three intervals, checking ok (if
	// not nil) after each read.
	readFor := func(read func() error, ok func() error) {
		t.Helper()
		tick := time.NewTicker(interval / 8)
		defer tick.Stop()
		for start := time.Now(); time.Since(start) < 3*interval; <-tick.C {
			if err := read(); err != nil {
				t.Fatalf("after %v of reads: %v", time.Since(start).Round(time.Millisecond), err)
			}
			if ok == nil {
				continue
			}
			if err := ok(); err != nil {
				t.Fatalf("after %v of reads: %v", time.Since(start).Round(time.Millisecond), err)
			}
		}
	}

	t.Run("TomcatToGo", func(t *testing.T) {
		var id string
		waitReplicates(t, ta, func(sid string) bool {
			id = sid
			return g.m.Find(sid) != nil
		})
		if out, err := ta.Get("/maxinactive?s="+strconv.Itoa(int(interval/time.Second)), tomcat.SessionCookie(id)); err != nil {
			t.Fatalf("%q %v", out, err)
		}
		testutil.EventuallyTrue(t, within, "Go's copy has the new interval", func() bool {
			s := g.m.Find(id)
			return s != nil && s.MaxInactiveInterval() == interval
		})
		copyOf := g.m.Find(id)
		arrived := copyOf.LastAccessedTime()
		before := g.m.Stats().Received
		sentDeltas := tomcatCounter("counterSend_EVT_SESSION_DELTA")
		sentAccesses := tomcatCounter("counterSend_EVT_SESSION_ACCESSED")
		reads := 0
		readFor(func() error {
			reads++
			out, err := ta.Get("/get?name=counter", tomcat.SessionCookie(id)) // no change
			if err == nil && out != "java.lang.Integer|1" {
				err = fmt.Errorf("Tomcat's page: %q", out)
			}
			return err
		}, func() error {
			if g.m.Find(id) == nil {
				return fmt.Errorf("Go no longer holds %s", id)
			}
			return nil
		})
		// Tomcat sends one delta per read and no EVT_SESSION_ACCESSED (docs/tomcat.md,
		// sessions only read), and Go receives them all.
		if n, m := tomcatCounter("counterSend_EVT_SESSION_DELTA")-sentDeltas, tomcatCounter("counterSend_EVT_SESSION_ACCESSED")-sentAccesses; n != reads || m != 0 {
			t.Errorf("Tomcat sent %d deltas and %d EVT_SESSION_ACCESSED for %d reads, want %d and 0", n, m, reads, reads)
		}
		var deltas, accesses int
		testutil.EventuallyTrue(t, within, "Go receives a delta per read", func() bool {
			after := g.m.Stats().Received
			deltas, accesses = int(after[delta.EventDelta]-before[delta.EventDelta]), int(after[delta.EventAccessed]-before[delta.EventAccessed])
			return deltas >= reads
		})
		if deltas != reads || accesses != 0 {
			t.Errorf("Go received %d deltas and %d EVT_SESSION_ACCESSED for %d reads on Tomcat, want %d and 0", deltas, accesses, reads, reads)
		}
		t.Logf("%d reads on Tomcat: Go received %d deltas, %d EVT_SESSION_ACCESSED", reads, deltas, accesses)
		if at := copyOf.LastAccessedTime(); !at.After(arrived.Add(interval)) {
			t.Errorf("Go's copy last used at %v, it arrived at %v", at, arrived)
		}
		if copyOf.IsPrimary() {
			t.Error("Go's copy of a session served on Tomcat counts itself primary")
		}
	})

	t.Run("GoToTomcat", func(t *testing.T) {
		mw, err := delta.NewMiddleware(g.m, delta.HTTPConfig{})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/app/counter", func(w http.ResponseWriter, r *http.Request) {
			s, n, err := counter.Next(r)
			if err == nil {
				err = s.SetMaxInactiveInterval(interval)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, "%s %d\n", s.ID(), n)
		})
		mux.HandleFunc("/app/peek", func(w http.ResponseWriter, r *http.Request) {
			v, ok := delta.FromContext(r.Context()).Get(counter.Attr)
			if !ok {
				http.Error(w, "no session", http.StatusNotFound)
				return
			}
			fmt.Fprintln(w, v)
		})
		srv := httptest.NewServer(mw.Wrap(mux))
		defer srv.Close()
		get := func(path, id string) (int, string) {
			t.Helper()
			code, body, _ := httpGet(t, srv.URL+path, id)
			return code, strings.TrimSpace(body)
		}
		code, out := get("/app/counter", "")
		id, n, _ := strings.Cut(out, " ")
		if code != http.StatusOK || n != "1" {
			t.Fatalf("Go's counter: %d %q", code, out)
		}
		sent := tomcatCounter("counterSend_EVT_SESSION_ACCESSED")
		received := tomcatCounter("counterReceive_EVT_SESSION_ACCESSED")
		readFor(func() error {
			if code, out := get("/app/peek", id); code != http.StatusOK || out != "1" {
				return fmt.Errorf("Go's page: %d %q", code, out)
			}
			return nil
		}, nil)
		if n := tomcatCounter("counterReceive_EVT_SESSION_ACCESSED") - received; n < 2 {
			t.Errorf("Tomcat received %d EVT_SESSION_ACCESSED in %v of reads on Go, want at least 2", n, 3*interval)
		}
		// Tomcat still holds the session (past twice its interval since Go changed it);
		// this read makes Tomcat its primary, which Go's copy then learns by the access
		// Tomcat sends.
		if out, err := ta.Get("/get?name=counter", tomcat.SessionCookie(id)); err != nil || out != "java.lang.Integer|1" {
			t.Fatalf("Tomcat after %v of reads on Go: %q %v", 3*interval, out, err)
		}
		base, _, _ := strings.Cut(id, ".")
		testutil.EventuallyTrue(t, within, "Go holds the session under Tomcat's route, as a backup", func() bool {
			s := g.m.Find(base + "." + ta.Route)
			return s != nil && !s.IsPrimary()
		})
		if tomcatCounter("counterSend_EVT_SESSION_ACCESSED") != sent {
			t.Log("Tomcat sent EVT_SESSION_ACCESSED for a request (it sent deltas after each in Tomcat 10.1.60)")
		}
		// Back on Go, read only: Go's copy becomes the primary again and tells Tomcat so
		// at once with EVT_SESSION_ACCESSED (Tomcat's "primary change" access), whatever
		// the interval.
		received = tomcatCounter("counterReceive_EVT_SESSION_ACCESSED")
		if code, out := get("/app/peek", base+"."+ta.Route); code != http.StatusOK || out != "1" {
			t.Fatalf("Go's page for the session Tomcat served last: %d %q", code, out)
		}
		if s := g.m.Find(base + ".go1"); s == nil || !s.IsPrimary() { // renamed to Go's route
			t.Error("Go's copy is not primary after Go served it")
		}
		testutil.EventuallyTrue(t, within, "Tomcat receives Go's EVT_SESSION_ACCESSED", func() bool {
			return tomcatCounter("counterReceive_EVT_SESSION_ACCESSED") == received+1
		})
	})
}
