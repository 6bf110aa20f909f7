package backup_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/interceptors"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startChannels starts n channels on a channeltest network with the heartbeat interval
// (0: channel's default, negative: none); stop stops them. It panics on errors (the
// Example uses it too).
func startChannels(n int, heartbeat time.Duration) (chans []*channel.Channel, stop func()) {
	chans, _, stop = startNodes(n, heartbeat)
	return chans, stop
}

// startNodes is startChannels that also returns the channels' channeltest nodes.
func startNodes(n int, heartbeat time.Duration) (chans []*channel.Channel, nodes []*channeltest.Node, stop func()) {
	return startNodesWith(n, heartbeat, nil)
}

// startNodesWith is startNodes with extra[i], if any, as node i's first interceptor
// (the closest to the application).
func startNodesWith(n int, heartbeat time.Duration, extra map[int]channel.Interceptor) (chans []*channel.Channel,
	nodes []*channeltest.Node, stop func()) {
	return startNodesOn(channeltest.NewNetwork(), n, heartbeat, extra)
}

// startNodesOn is startNodesWith on network nw (a test cuts its links).
func startNodesOn(nw *channeltest.Network, n int, heartbeat time.Duration, extra map[int]channel.Interceptor) (
	chans []*channel.Channel, nodes []*channeltest.Node, stop func()) {
	ctx := context.Background()
	stop = func() {
		for _, ch := range chans {
			_ = ch.Stop(ctx, channel.SvcAll)
		}
	}
	for i := range n {
		tn := nw.NewNode()
		nodes = append(nodes, tn)
		d, err := interceptors.NewMessageDispatch(interceptors.DispatchConfig{})
		if err != nil {
			panic(err)
		}
		stack := []channel.Interceptor{d}
		if x := extra[i]; x != nil {
			stack = []channel.Interceptor{x, d}
		}
		ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(),
			Interceptors: stack, HeartbeatInterval: heartbeat})
		if err != nil {
			panic(err)
		}
		if err := ch.Start(ctx, channel.SvcAll); err != nil {
			panic(err)
		}
		chans = append(chans, ch)
	}
	return chans, nodes, stop
}

// startManagers starts n channels on a channeltest network and a started manager of
// "localhost#/app" with cfg on each (JvmRoute "n<i>").
func startManagers(t *testing.T, n int, cfg backup.Config) []*backup.Manager {
	t.Helper()
	ms, _ := startManagerNodes(t, n, cfg)
	return ms
}

// startManagerNodes is startManagers that also returns the channeltest nodes.
func startManagerNodes(t *testing.T, n int, cfg backup.Config) ([]*backup.Manager, []*channeltest.Node) {
	t.Helper()
	return startManagerNodesWith(t, n, cfg, nil)
}

// startManagerNodesWith is startManagerNodes with extra interceptors (startNodesWith).
func startManagerNodesWith(t *testing.T, n int, cfg backup.Config, extra map[int]channel.Interceptor) ([]*backup.Manager,
	[]*channeltest.Node) {
	t.Helper()
	return startManagerNodesOn(t, channeltest.NewNetwork(), n, cfg, extra)
}

// startManagerNodesOn is startManagerNodesWith on network nw (startNodesOn).
func startManagerNodesOn(t *testing.T, nw *channeltest.Network, n int, cfg backup.Config,
	extra map[int]channel.Interceptor) ([]*backup.Manager, []*channeltest.Node) {
	t.Helper()
	chans, nodes, stop := startNodesOn(nw, n, -1, extra)
	t.Cleanup(stop)
	for _, ch := range chans {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(ch.Members()) == n-1 })
	}
	var ms []*backup.Manager
	for i, ch := range chans {
		c := cfg
		c.Channel, c.Name, c.JvmRoute = ch, "localhost#/app", "n"+strconv.Itoa(i)
		m, err := backup.NewManager(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Stop(context.Background()) })
		ms = append(ms, m)
	}
	for _, m := range ms {
		if err := m.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "map members", func() bool { return len(m.Map().Members()) == n-1 })
	}
	return ms, nodes
}

// counter is the counter page: it adds one to the session's "counter" (creating the
// session) and prints "id counter"; /logout invalidates the session.
var counter = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	q := backup.FromContext(r.Context())
	if r.URL.Path == "/logout" {
		if err := q.Invalidate(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
		return
	}
	s, err := q.Create()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	n, _, err := s.Get("counter")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	c, _ := n.(int)
	if err := s.Set("counter", c+1); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, s.ID(), c+1)
})

// request sends path to the manager's middleware with the session cookie id (none if
// empty) and returns the body and the cookie set.
func request(t *testing.T, m *backup.Manager, path, id string) (body string, cookie *http.Cookie) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if id != "" {
		r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	}
	w := httptest.NewRecorder()
	m.Wrap(counter).ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("%s: %d %s", path, w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == backup.CookieName {
			cookie = c
		}
	}
	return w.Body.String(), cookie
}

// TestMiddleware: a session created on one node (its cookie carries the node's route)
// is used on each of the others in turn, which fetch it and become its primary, and
// every node reads the previous one's counter; logout removes it everywhere. Without the
// jvmRoute binding, the session keeps its id (TestJvmRouteBinder has it on).
func TestMiddleware(t *testing.T) {
	ms := startManagers(t, 3, backup.Config{CookiePath: "/app", DisableJvmRouteBinder: true})
	body, c := request(t, ms[0], "/", "")
	if c == nil || c.Path != "/app" || !c.HttpOnly || len(c.Value) != 32+len(".n0") || c.Value[32:] != ".n0" {
		t.Fatalf("cookie %+v", c)
	}
	id := c.Value
	if body != id+" 1\n" {
		t.Fatalf("body %q", body)
	}
	for i, want := range []int{2, 3, 4, 5} {
		m := ms[(i+1)%3]
		body, c := request(t, m, "/", id)
		if c != nil {
			t.Errorf("a cookie for an existing session: %+v", c)
		}
		if body != fmt.Sprintf("%s %d\n", id, want) {
			t.Fatalf("request %d: %q, want counter %d", i, body, want)
		}
		if _, primary, ok := m.Map().Peek(id); !ok || !primary {
			t.Fatalf("request %d: the serving node is not the primary", i)
		}
	}
	request(t, ms[2], "/logout", id)
	for i, m := range ms {
		if slices.Contains(m.Map().Keys(), any(id)) {
			t.Errorf("node %d still knows the session after logout", i)
		}
	}
	// An unknown id gets a new session.
	if _, c := request(t, ms[1], "/", "NOSUCHSESSION.n0"); c == nil || c.Value == "NOSUCHSESSION.n0" {
		t.Errorf("cookie %+v for an unknown id", c)
	}
}

// TestExpiry: the sweep removes a session its primary has not seen used for its max
// inactive interval, from every node.
func TestExpiry(t *testing.T) {
	ms := startManagers(t, 2, backup.Config{MaxInactive: time.Second, ExpireInterval: 50 * time.Millisecond})
	_, c := request(t, ms[0], "/", "")
	if c == nil {
		t.Fatal("no session")
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the session expired everywhere", func() bool {
		for _, m := range ms {
			if len(m.Map().Keys()) != 0 {
				return false
			}
		}
		return true
	})
	// Its primary expired it; the backup's copy went with the primary's removal.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the primary counts the expiry", func() bool {
		return ms[0].Stats().Expired == 1
	})
	if n := ms[1].Stats().Expired; n != 0 {
		t.Errorf("the backup node counts %d expiries", n)
	}
}

// TestReplicationFailure: when a request's changes cannot reach the session's backup,
// the client gets 503 instead of the handler's response (which would claim a change
// that one crash could lose); once the backup takes messages again, the session's
// changes reach it, and the backup node serves the latest counter.
func TestReplicationFailure(t *testing.T) {
	ms, nodes := startManagerNodes(t, 2, backup.Config{})
	body, c := request(t, ms[0], "/", "")
	id := c.Value
	if want := id + " 1\n"; body != want {
		t.Fatalf("first request: %q, want %q", body, want)
	}
	nodes[1].SetMaxMessageSize(1) // the backup refuses every message: the diff's send fails
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	w := httptest.NewRecorder()
	ms[0].Wrap(counter).ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), id+" 2") {
		t.Fatalf("request whose diff did not reach the backup: %d %q, want 503 without the page", w.Code, w.Body)
	}
	nodes[1].SetMaxMessageSize(0)
	if body, _ := request(t, ms[0], "/", id); body != id+" 3\n" {
		t.Fatalf("request after the backup recovered: %q, want counter 3", body)
	}
	// The backup node serves it, renamed to its route (the jvmRoute binding).
	if body, _ := request(t, ms[1], "/", id); body != strings.TrimSuffix(id, ".n0")+".n1 4\n" {
		t.Fatalf("the backup node served %q, want counter 4", body)
	}
}

// TestCreateAfterCommit: a handler that writes before creating a session gets
// ErrResponseCommitted; NewManager checks its configuration.
func TestCreateAfterCommit(t *testing.T) {
	ms := startManagers(t, 1, backup.Config{})
	var got error
	h := ms[0].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
		_, got = backup.FromContext(r.Context()).Create()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if !errors.Is(got, backup.ErrResponseCommitted) {
		t.Errorf("Create after writing: %v", got)
	}
	ch := &channel.Channel{}
	for _, cfg := range []backup.Config{{}, {Channel: ch}, {Channel: ch, Name: "x", JvmRoute: "a.b"},
		{Channel: ch, Name: "x", JvmRoute: "a:b"}, {Channel: ch, Name: "x", MaxInactive: time.Millisecond}} {
		if _, err := backup.NewManager(cfg); !errors.Is(err, channel.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// TestFindExpired: a request to its primary for a session idle longer than its max
// inactive interval finds none (a new one is created) even before the sweep runs, and
// the session is removed everywhere.
func TestFindExpired(t *testing.T) {
	ms := startManagers(t, 2, backup.Config{MaxInactive: time.Second, ExpireInterval: time.Hour})
	_, c := request(t, ms[0], "/", "")
	v, _, ok := ms[0].Map().Peek(c.Value)
	if !ok {
		t.Fatal("the primary holds no session")
	}
	// Wait without using the session: a request would mark it used.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the session idle for 1 s", func() bool {
		return v.(*backup.Session).Expired(time.Now())
	})
	if _, nc := request(t, ms[0], "/", c.Value); nc == nil || nc.Value == c.Value {
		t.Fatalf("an expired session served: new cookie %+v", nc)
	}
	for i, m := range ms {
		if slices.Contains(m.Map().Keys(), any(c.Value)) {
			t.Errorf("node %d still knows the expired session", i)
		}
	}
}

// TestJvmRouteBinder: a request whose session id carries another node's route gets the
// session renamed to the serving node's route on every node, with a new cookie and the
// counter intact; a stale cookie (the response with the new one was lost) finds the
// renamed session; a cookie with the node's own route is left alone.
func TestJvmRouteBinder(t *testing.T) {
	ms := startManagers(t, 3, backup.Config{CookiePath: "/app"})
	originals := map[string]string{}
	var mu sync.Mutex
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		counter(w, r)
		q := backup.FromContext(r.Context())
		if o := q.OriginalID(); o != "" {
			mu.Lock()
			s, _ := q.Session()
			originals[s.ID()] = o
			mu.Unlock()
		}
	})
	serve := func(m *backup.Manager, id string) (string, *http.Cookie) {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
		w := httptest.NewRecorder()
		m.Wrap(page).ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		for _, c := range w.Result().Cookies() {
			if c.Name == backup.CookieName {
				return w.Body.String(), c
			}
		}
		return w.Body.String(), nil
	}
	_, c := request(t, ms[0], "/", "")
	id0 := c.Value
	base := strings.TrimSuffix(id0, ".n0")
	keys := func(id string) (n int) {
		for _, m := range ms {
			if slices.Contains(m.Map().Keys(), any(id)) {
				n++
			}
		}
		return n
	}
	for i, step := range []struct {
		node       int
		cookie     string
		want       string // the session's id afterwards
		counter    int
		newCookie  bool
		renamedNow bool
	}{
		{1, id0, base + ".n1", 2, true, true},            // failover to n1: renamed
		{1, id0, base + ".n1", 3, true, false},           // the new cookie was lost: found, sent again
		{1, base + ".n1", base + ".n1", 4, false, false}, // at home
		{2, base + ".n1", base + ".n2", 5, true, true},   // failover to n2
		{0, base + ".n2", base + ".n0", 6, true, true},   // back to n0
	} {
		body, c := serve(ms[step.node], step.cookie)
		if want := fmt.Sprintf("%s %d\n", step.want, step.counter); body != want {
			t.Fatalf("step %d: body %q, want %q", i, body, want)
		}
		switch {
		case step.newCookie && (c == nil || c.Value != step.want || c.Path != "/app"):
			t.Fatalf("step %d: cookie %+v, want %s", i, c, step.want)
		case !step.newCookie && c != nil:
			t.Fatalf("step %d: a cookie %+v for the node's own session", i, c)
		}
		if n := keys(step.want); n != len(ms) {
			t.Errorf("step %d: %d of %d nodes know %s", i, n, len(ms), step.want)
		}
		if step.renamedNow {
			if n := keys(step.cookie); n != 0 {
				t.Errorf("step %d: %d nodes still know the old id %s", i, n, step.cookie)
			}
		}
		if _, primary, ok := ms[step.node].Map().Peek(step.want); !ok || !primary {
			t.Errorf("step %d: node n%d is not the primary of %s", i, step.node, step.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if originals[base+".n2"] != base+".n1" || originals[base+".n0"] != base+".n2" {
		t.Errorf("OriginalID: %v", originals)
	}
}

func TestChangeSessionID(t *testing.T) {
	ctx := context.Background()
	ms := startManagers(t, 2, backup.Config{})
	a, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ms[0].ChangeSessionID(ctx, a, b.ID()); !errors.Is(err, backup.ErrIDTaken) {
		t.Errorf("rename to a taken id: %v", err)
	}
	if err := ms[0].ChangeSessionID(ctx, a, a.ID()); err != nil {
		t.Errorf("rename to its own id: %v", err)
	}
	// An id the middleware would not read from a cookie is ErrInvalidSessionID, the
	// session unrenamed (the error was untyped, and an id such as a"b or a+b was taken).
	for _, bad := range []string{"", "a;b", "a b", `a"b`, "a+b", strings.Repeat("A", 257)} {
		if err := ms[0].ChangeSessionID(ctx, a, bad); !errors.Is(err, backup.ErrInvalidSessionID) {
			t.Errorf("rename to %q: %v, want ErrInvalidSessionID", bad, err)
		}
	}
	if _, _, ok := ms[0].Map().Peek(a.ID()); !ok {
		t.Errorf("session %s gone after the refused renames", a.ID())
	}
	old := a.ID()
	if err := ms[0].ChangeSessionID(ctx, a, "RENAMED.n0"); err != nil {
		t.Fatal(err)
	}
	if a.ID() != "RENAMED.n0" {
		t.Fatalf("id %s after the rename", a.ID())
	}
	// The other node fetches the renamed session, with its attributes, under the new id only.
	if err := a.Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := ms[0].Replicate(ctx, a.ID()); err != nil {
		t.Fatal(err)
	}
	if s, err := ms[1].Find(ctx, old); err != nil || s != nil {
		t.Errorf("old id on the other node: %v, %v", s, err)
	}
	s, err := ms[1].Find(ctx, "RENAMED.n0")
	if err != nil || s == nil {
		t.Fatalf("new id on the other node: %v, %v", s, err)
	}
	if v, _, err := s.Get("k"); err != nil || v != "v" {
		t.Errorf("attribute k on the other node: %v, %v", v, err)
	}
}

// A request failed over to n2, which renamed the session to its route and died (or
// answered with an error) before its response, with the new cookie, left: the client
// goes on with the old id, and the node it reaches now finds the session under n2's route
// and takes it over (Tomcat's valve looks under the request's id only, and the user
// would get a new, empty session).
func TestJvmRouteBinderFindsAnotherNodesRename(t *testing.T) {
	ms := startManagers(t, 3, backup.Config{})
	_, c := request(t, ms[0], "/", "")
	id0 := c.Value
	base := strings.TrimSuffix(id0, ".n0")
	if body, c := request(t, ms[2], "/", id0); body != base+".n2 2\n" || c == nil || c.Value != base+".n2" {
		t.Fatalf("failover to n2: %q, cookie %+v", body, c)
	}
	// The client never got that cookie: it sends the old id to n1.
	body, c := request(t, ms[1], "/", id0)
	if body != base+".n1 3\n" || c == nil || c.Value != base+".n1" {
		t.Fatalf("the old id on n1: %q, cookie %+v; want the session renamed to %s.n1 with its counter at 3", body, c, base)
	}
	for i, m := range ms {
		if slices.Contains(m.Map().Keys(), any(base+".n2")) || !slices.Contains(m.Map().Keys(), any(base+".n1")) {
			t.Errorf("n%d does not know the session under %s.n1 only", i, base)
		}
	}
	// A made-up id with a route finds nothing: a new session.
	if body, _ := request(t, ms[1], "/", "0123456789ABCDEF0123456789ABCDEF.n2"); strings.HasPrefix(body, "0123456789ABCDEF") {
		t.Errorf("a made-up id was served: %q", body)
	}
}

// TestReplicationFailureDropsHandlerRepresentationHeaders: the 503 that replaces a
// response whose changes could not reach the backup carries none of the headers the
// handler set for its own body (a "Content-Encoding: gzip" on the plain-text error made
// it unreadable), as delta's and redisstore's (sessionhttp.ClearRepresentation).
func TestReplicationFailureDropsHandlerRepresentationHeaders(t *testing.T) {
	ms, nodes := startManagerNodes(t, 2, backup.Config{})
	_, c := request(t, ms[0], "/", "")
	nodes[1].SetMaxMessageSize(1) // the backup refuses every message: the diff's send fails
	defer nodes[1].SetMaxMessageSize(0)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Disposition", `attachment; filename="report.txt"`)
		w.Header().Set("ETag", `"v1"`)
		counter.ServeHTTP(w, r)
	})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: c.Value})
	w := httptest.NewRecorder()
	ms[0].Wrap(h).ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("request whose diff did not reach the backup: %d, want 503", w.Code)
	}
	for _, k := range []string{"Content-Encoding", "Content-Disposition", "ETag"} {
		if v := w.Header().Get(k); v != "" {
			t.Errorf("the 503 keeps the handler's %s %q", k, v)
		}
	}
}
