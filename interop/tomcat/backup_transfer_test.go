package tomcatinterop_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/transport/nio"
)

// largeMap is the number of sessions of TestBackupManagerLargeMap.
const largeMap = 10000

// heldCopies counts the entries m holds a value of, and those of them it is the primary
// of.
func heldCopies(m *replmap.Map) (held, primary int) {
	for _, k := range m.Keys() {
		if v, p, ok := m.Peek(k); ok && v != nil {
			held++
			if p {
				primary++
			}
		}
	}
	return held, primary
}

// waitProgress calls cond every 250 ms until it returns nil, and fails t with cond's last
// error once what cond counts done (its first result; negative: not known) stayed the
// same for stall. A transfer that a loaded machine slows down is waited for as long as
// it goes on, one that stopped is not: its time is not what the test asserts. The pace
// spares the CPU the transfer needs (a count of the map's copies reads 10 000 entries).
func waitProgress(t *testing.T, stall time.Duration, cond func() (done int, err error)) {
	t.Helper()
	last, since := -1, time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for ; ; <-tick.C {
		done, err := cond()
		switch {
		case err == nil:
			return
		case done >= 0 && done != last:
			last, since = done, time.Now()
		case time.Since(since) >= stall:
			t.Fatalf("no progress for %v (at %d): %v", stall, last, err)
		}
	}
}

// TestBackupManagerLargeMap moves a map of 10 000 sessions between Tomcat's BackupManager
// and Go: a Go node joins Tomcat A's map, which makes it the backup of every session
// (they had none) and gives it the map's state; Tomcat A dies and Go becomes the primary
// of every session; Tomcat B joins Go's map, takes the map's state from Go and becomes
// the backup of every session, and serves them.
func TestBackupManagerLargeMap(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	ports := testutil.FreePorts(t, 5) // two Tomcat receivers and HTTP ports, the Go receiver
	a := tomcat.Config{Route: "A", Port: ports[0], HTTPPort: ports[1], UniqueID: uid(21), BackupManager: true, SendOption: 6}
	b := tomcat.Config{Route: "B", Port: ports[2], HTTPPort: ports[3], UniqueID: uid(22), BackupManager: true, SendOption: 6}
	goMember := tomcat.Member{Port: ports[4], UniqueID: uid(23)}
	a.Members = []tomcat.Member{{Port: b.Port, UniqueID: b.UniqueID}, goMember}
	b.Members = []tomcat.Member{{Port: a.Port, UniqueID: a.UniqueID}, goMember}
	ta := tomcat.Launch(t, dir, app, a)
	ta.Wait(t)
	ids := createSessions(t, ta, largeMap) // alone: no session has a backup

	ch := startChannel(t, goMember.Port, goMember.UniqueID, []tomcat.Member{{Port: a.Port, UniqueID: a.UniqueID},
		{Port: b.Port, UniqueID: b.UniqueID}}, nio.DefaultConfig())
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := ch.WaitForMembers(wctx, 1); err != nil {
		t.Fatal(err)
	}
	mgr, err := backup.NewManager(backup.Config{Channel: ch, Name: appName, JvmRoute: "go", CookiePath: "/app"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Stop(context.Background()) })
	start := time.Now()
	if err := mgr.Start(wctx); err != nil {
		t.Fatal(err)
	}
	m := mgr.Map()
	// Tomcat A's map makes the newcomer the backup of each session without one.
	waitProgress(t, 60*time.Second, func() (int, error) {
		if held, primary := heldCopies(m); held != largeMap || primary != 0 {
			return held, fmt.Errorf("Go holds %d copies (%d as primary) of %d sessions", held, primary, largeMap)
		}
		return largeMap, nil
	})
	t.Logf("Go joined Tomcat A's map of %d sessions and holds a backup of each after %v", largeMap,
		time.Since(start).Round(time.Millisecond))
	counter := func(id string) int {
		t.Helper()
		v, _, ok := m.Peek(id)
		if !ok {
			t.Fatalf("Go holds no %s", id)
		}
		n, _, err := v.(*backup.Session).Get("counter")
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		c, _ := n.(int)
		return c
	}
	for _, id := range []string{ids[0], ids[largeMap/2], ids[largeMap-1]} {
		if c := counter(id); c != 1 {
			t.Fatalf("Go's copy of %s: counter %d, want 1", id, c)
		}
	}

	// Tomcat A dies: Go, the backup of every session, becomes their primary.
	ta.Kill()
	waitProgress(t, 90*time.Second, func() (int, error) {
		if held, primary := heldCopies(m); held != largeMap || primary != largeMap {
			return primary, fmt.Errorf("Go holds %d copies, is the primary of %d, of %d sessions", held, primary, largeMap)
		}
		return largeMap, nil
	})

	// Tomcat B joins Go's map: it takes the map's state from Go (its only member) and
	// becomes the backup of every session.
	start = time.Now()
	tb := tomcat.Launch(t, dir, app, b)
	tb.Wait(t)
	up := time.Now()
	waitProgress(t, 60*time.Second, func() (int, error) {
		out, err := tb.Get("/count", nil)
		if err != nil {
			return -1, err
		}
		n, err := strconv.Atoi(out)
		if err != nil {
			return -1, fmt.Errorf("Tomcat B's count %q: %v", out, err)
		}
		if n != largeMap {
			return n, fmt.Errorf("Tomcat B holds %d sessions, want %d", n, largeMap)
		}
		return n, nil
	})
	t.Logf("Tomcat B joined Go's map and holds a backup of each session %v after its start (%v after it listened)",
		time.Since(start).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	for _, i := range []int{0, 1, largeMap / 2, largeMap - 1} {
		out, err := tb.Get("/counter", tomcat.SessionCookie(ids[i]))
		if err != nil {
			t.Fatal(err)
		}
		id, c := splitCounter(t, out) // Tomcat B binds the session to its route
		if c != "2" || id != strings.TrimSuffix(ids[i], ".A")+".B" {
			t.Fatalf("Tomcat B serves %s as %q, want %s.B 2", ids[i], out, strings.TrimSuffix(ids[i], ".A"))
		}
	}
	if st := m.Stats(); st.RefusedOverLimit != 0 || st.DiffsNotApplied != 0 {
		t.Errorf("Go's map: %+v", st)
	}
}
