package tomcatinterop_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

const (
	appName  = "localhost#/app" // the cluster name of Tomcat's /app on host localhost
	sessions = 10000            // sessions each side holds before the other joins
	within   = 20 * time.Second // bound on replication between the nodes (a loaded CI machine)
)

func uid(n byte) channel.UniqueID {
	var id channel.UniqueID
	for i := range id {
		id[i] = n
	}
	id[0] = 0xc0 // a negative byte: Tomcat writes ids as signed bytes
	return id
}

// goNode is an in-process Go node: a channel with StaticMembershipService membership
// and a DeltaManager-compatible manager for /app.
type goNode struct {
	ch *channel.Channel
	cl *delta.Cluster
	m  *delta.Manager
}

// stop stops the node now (the test's cleanup does it otherwise), failing t if that
// takes more than stopWithin.
func (g *goNode) stop(t testing.TB) {
	t.Helper()
	if !doneWithin(stopWithin, g.close) {
		t.Fatalf("stopping the Go node did not end within %v", stopWithin)
	}
}

// close closes the node's cluster and stops its channel, each given stopWithin.
func (g *goNode) close() {
	ctx, cancel := context.WithTimeout(context.Background(), stopWithin)
	defer cancel()
	_ = g.cl.Close(ctx)
	_ = g.ch.Stop(ctx, channel.SvcAll)
}

// startGo starts a Go node with static members (all running) and, before its manager
// asks for sessions, waits until it sees them all and each of peers counts it as a
// member: a node sends session messages only to the members it knows.
func startGo(t *testing.T, route string, port int, id channel.UniqueID, members []tomcat.Member, peers ...*goNode) *goNode {
	t.Helper()
	return startGoTraced(t, nil, route, port, id, members, peers...)
}

// startGoTraced is startGo with tr, if not nil, recording what the node receives from
// the moment its channel starts.
func startGoTraced(t *testing.T, tr *recvTrace, route string, port int, id channel.UniqueID, members []tomcat.Member,
	peers ...*goNode) *goNode {
	t.Helper()
	ch := startChannel(t, port, id, members, nio.DefaultConfig())
	return joinGo(t, tr, ch, route, len(members), 15*time.Second, peers...)
}

// joinGo has tr, if not nil, record what ch receives, waits until ch sees members
// members and each of peers counts it as a member, then starts ch's manager of /app as
// route with memberWait (delta.Config.MemberWait; negative for the first node of a
// cluster whose members run no manager yet) and waits until it is ready.
func joinGo(t *testing.T, tr *recvTrace, ch *channel.Channel, route string, members int, memberWait time.Duration,
	peers ...*goNode) *goNode {
	t.Helper()
	if tr != nil {
		tr.ch = ch
		t.Cleanup(ch.AddMessageListener(tr))
		t.Cleanup(ch.AddMembershipListener(channel.MembershipFuncs{Added: tr.memberAdded, Disappeared: tr.memberGone}))
	}
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := ch.WaitForMembers(wctx, members); err != nil {
		t.Fatal(err)
	}
	id := ch.LocalMember().UniqueID
	for _, p := range peers {
		testutil.EventuallyTrue(t, within, "a peer counts "+route+" as a member", func() bool {
			return slices.ContainsFunc(p.ch.Members(), func(m channel.Member) bool { return m.UniqueID == id })
		})
	}
	g := newGoNode(t, ch, delta.JavaCodec{}, delta.Config{JvmRoute: route, MemberWait: memberWait})
	if tr != nil {
		tr.m.Store(g.m)
	}
	if err := g.m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return g
}

// startChannel starts a channel on 127.0.0.1:port (tcfg's other settings) with the static
// members.
func startChannel(t testing.TB, port int, id channel.UniqueID, members []tomcat.Member, tcfg nio.Config) *channel.Channel {
	t.Helper()
	return startChannelNamed(t, port, id, members, tcfg, staticsvc.DefaultChannelName)
}

// startChannelNamed is startChannel for a Tomcat cluster whose channel has another name
// than an Engine's cluster: a Host's cluster names it "<host>-Channel".
func startChannelNamed(t testing.TB, port int, id channel.UniqueID, members []tomcat.Member, tcfg nio.Config,
	name string) *channel.Channel {
	t.Helper()
	var list []string
	for _, m := range members {
		list = append(list, fmt.Sprintf("127.0.0.1:%d:%x", m.Port, m.UniqueID[:]))
	}
	static, err := wire.ParseMemberList(strings.Join(list, ","))
	if err != nil {
		t.Fatalf("%v", err)
	}
	tcfg.Address, tcfg.Port, tcfg.AutoBind = "127.0.0.1", port, 1
	ch, err := node.New(node.Config{Transport: &tcfg, StaticMembers: static, UniqueID: id,
		StaticProtocol: &staticsvc.Config{ChannelName: name},
		// StaticMembershipService's replies come from nodes not listed yet; session messages
		// from non-members are still refused by delta.Cluster.
		AcceptNonMembers: true})
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := ch.Start(context.Background(), channel.SvcAll); err != nil {
		t.Fatalf("%v", err)
	}
	cleanupWithin(t, fmt.Sprintf("stopping the Go channel on port %d", port), stopWithin, func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopWithin)
		defer cancel()
		_ = ch.Stop(ctx, channel.SvcAll)
	})
	return ch
}

// newGoNode makes the cluster and the manager of /app (not started) on ch; cfg gives the
// manager's JvmRoute, MemberWait and Logger.
func newGoNode(t testing.TB, ch *channel.Channel, codec delta.JavaCodec, cfg delta.Config) *goNode {
	t.Helper()
	cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch, Codec: codec, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	g := &goNode{ch: ch, cl: cl}
	cleanupWithin(t, "closing the Go node's cluster", stopWithin, func() {
		ctx, cancel := context.WithTimeout(context.Background(), stopWithin)
		defer cancel()
		_ = g.cl.Close(ctx)
	})
	cfg.Name, cfg.Codec, cfg.Replication = appName, delta.JavaValueCodec{}, delta.ReplicateAcked
	// Replay every message that arrived during the state transfer: the donor may apply one
	// after taking its snapshot, and Java-format messages carry no session version to tell
	// (Tomcat stateTimestampDrop="false").
	cfg.KeepStaleTransferMessages = true
	g.m, err = g.cl.NewManager(cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return g
}

// kinds are attribute values Tomcat's test servlet sets (kind, text) with the Go value
// they read as and what the servlet prints for them.
var kinds = []struct {
	kind, text string
	goValue    any
	java       string
}{
	{"string", "hello", "hello", "java.lang.String|hello"},
	{"int", "41", 41, "java.lang.Integer|41"},
	{"long", "1099511627776", int64(1) << 40, "java.lang.Long|1099511627776"},
	{"bool", "true", true, "java.lang.Boolean|true"},
	{"double", "2.5", 2.5, "java.lang.Double|2.5"},
	{"bytes", "raw", []byte("raw"), "[B|raw"},
	{"date", "1700000000000", time.UnixMilli(1700000000000).UTC(), "java.util.Date|1700000000000"},
	{"list", "a,b", []any{"a", "b"}, "java.util.ArrayList|[a, b]"},
	{"set", "x,y", &jserial.Set{Class: jserial.LinkedHashSet, Elems: []any{"x", "y"}}, "java.util.LinkedHashSet|[x, y]"},
	{"map", "k=v,n=m", map[string]any{"k": "v", "n": "m"}, "java.util.HashMap|{k=v, n=m}"},
}

func className(v any) string {
	if o, ok := v.(*jserial.Object); ok {
		return o.Class.Name
	}
	return fmt.Sprintf("%T", v)
}

func sameValue(got, want any) bool {
	switch w := want.(type) {
	case []byte:
		g, ok := got.([]byte)
		return ok && slices.Equal(g, w)
	case []any:
		g, ok := got.([]any)
		return ok && slices.Equal(g, w)
	case *jserial.Set:
		g, ok := got.(*jserial.Set)
		return ok && g.Class == w.Class && slices.Equal(g.Elems, w.Elems)
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, v := range w {
			if g[k] != v {
				return false
			}
		}
		return true
	}
	return got == want
}

// setUp skips the test without Tomcat or in -short mode, and returns the test's temporary
// directory (for the nodes' CATALINA_BASEs) and the test web application's directory,
// compiled once for every test of the package (tomcat.SharedWebapp).
func setUp(t *testing.T) (dir, app string) {
	t.Helper()
	tomcat.Skip(t)
	if testing.Short() {
		t.Skip("starts Tomcat: not in -short mode")
	}
	dir = t.TempDir()
	return dir, tomcat.SharedWebapp(t)
}

// hostChannel is the channel name of a cluster in Tomcat's Host "localhost" (a farm
// deployer's), where an Engine's cluster has staticsvc.DefaultChannelName.
const hostChannel = "localhost-Channel"

// tomcatAndGo starts a Tomcat node with cfg (its ports picked, the Go node as its only
// member) and a Go channel with id goID that lists it, its member protocol on the
// channel name channelName, and waits until the Go node sees the Tomcat node.
func tomcatAndGo(t *testing.T, dir, app string, cfg tomcat.Config, goID channel.UniqueID,
	channelName string) (*tomcat.Node, *channel.Channel) {
	t.Helper()
	ports := testutil.FreePorts(t, 3) // Tomcat receiver and HTTP, the Go receiver
	goMember := tomcat.Member{Port: ports[2], UniqueID: goID}
	cfg.Port, cfg.HTTPPort, cfg.Members = ports[0], ports[1], []tomcat.Member{goMember}
	ta := tomcat.Start(t, dir, app, cfg)
	return ta, goBeside(t, ta, goMember, channelName)
}

// createSessions has Tomcat node tc's counter page create n sessions, eight requests at
// a time, and returns their ids.
func createSessions(t *testing.T, tc *tomcat.Node, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				out, err := tc.Get("/counter", nil)
				id, c, _ := strings.Cut(out, " ")
				if err == nil && c != "1" {
					err = fmt.Errorf("counter %q", out)
				}
				if err != nil {
					errs <- err
					return
				}
				ids[i] = id
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestTomcatAndGo runs one Tomcat node and one Go node (acked replication) in a cluster:
// the Go node joins the Tomcat node's sessions, both change, expire and rename sessions
// the other reads, then a second Tomcat node joins the Go node's sessions and is killed.
func TestTomcatAndGo(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	ports := testutil.FreePorts(t, 4) // Tomcat receiver, Tomcat HTTP, Go receiver, second Go receiver
	goMember := tomcat.Member{Port: ports[2], UniqueID: uid(2)}
	go2Member := tomcat.Member{Port: ports[3], UniqueID: uid(3)}
	tc := tomcat.Config{Route: "t1", Port: ports[0], UniqueID: uid(1), HTTPPort: ports[1],
		Members: []tomcat.Member{goMember, go2Member}}
	t1 := tomcat.Start(t, dir, app, tc)

	// Tomcat holds sessions with a java.lang.Integer counter; the first has every kind.
	ids := createSessions(t, t1, sessions)
	for _, k := range kinds {
		if _, err := t1.Get("/set?name="+k.kind+"&kind="+k.kind+"&value="+k.text, tomcat.SessionCookie(ids[0])); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := t1.Get("/set?name=cart&kind=cart&value=carol:3", tomcat.SessionCookie(ids[0])); err != nil {
		t.Fatal(err)
	}

	g := startGo(t, "go1", goMember.Port, goMember.UniqueID, []tomcat.Member{{Port: tc.Port, UniqueID: tc.UniqueID}})
	t.Run("GoReceivesTomcatSessions", func(t *testing.T) {
		if g.m.Len() != sessions {
			t.Logf("members %v cluster %+v manager %+v\n%s", g.ch.Members(), g.cl.Stats(), g.m.Stats(), t1.Log())
			t.Fatalf("Go node holds %d sessions after the state transfer, want %d", g.m.Len(), sessions)
		}
		for _, id := range ids {
			s := g.m.Find(id)
			if n, ok := delta.Attr[int](s, "counter"); !ok || n != 1 {
				t.Fatalf("session %s: counter %v %v", id, n, ok)
			}
		}
		s := g.m.Find(ids[0])
		if cart, _ := s.Get("cart"); className(cart) != "TestServlet$Cart" {
			t.Errorf("Go reads the web application's Cart as %#v", cart)
		}
		for _, k := range kinds {
			if v, _ := s.Get(k.kind); !sameValue(v, k.goValue) {
				t.Errorf("%s: Go reads %#v, want %#v", k.kind, v, k.goValue)
			}
		}
	})

	t.Run("TomcatDeltaToGo", func(t *testing.T) {
		out, err := t1.Get("/counter", tomcat.SessionCookie(ids[1]))
		if err != nil || out != ids[1]+" 2" {
			t.Fatalf("%q %v", out, err)
		}
		testutil.EventuallyTrue(t, within, "counter 2 on Go", func() bool {
			n, _ := delta.Attr[int](g.m.Find(ids[1]), "counter")
			return n == 2
		})
	})

	t.Run("GoDeltaToTomcat", func(t *testing.T) {
		s := g.m.Find(ids[2])
		for _, k := range kinds {
			if err := s.Set(k.kind, k.goValue); err != nil {
				t.Fatal(err)
			}
		}
		// A Java object Go cannot read goes back to Tomcat as it came.
		cart, _ := g.m.Find(ids[0]).Get("cart")
		if err := s.Set("cart2", cart); err != nil {
			t.Fatal(err)
		}
		if err := s.Set("counter", 7); err != nil {
			t.Fatal(err)
		}
		if err := g.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		want := []string{"counter=java.lang.Integer|7", "cart2=TestServlet$Cart|carol:3"}
		for _, k := range kinds {
			want = append(want, k.kind+"="+k.java)
		}
		testutil.Eventually(t, within, func() error {
			for _, w := range want {
				name, java, _ := strings.Cut(w, "=")
				got, err := t1.Get("/get?name="+name, tomcat.SessionCookie(ids[2]))
				if err != nil || got != java {
					return fmt.Errorf("Tomcat reads %s as %q (%v), want %q", name, got, err, java)
				}
			}
			return nil
		})
	})

	t.Run("Principal", func(t *testing.T) {
		// A user who logs in on Tomcat (request.login against its realm; the session gets
		// a new id) is logged in on Go: the principal reaches the Go node's session.
		out, err := t1.Get("/login?user="+tomcat.RealmUser+"&pw="+tomcat.RealmPassword, tomcat.SessionCookie(ids[7]))
		if err != nil {
			t.Fatal(err)
		}
		id, name, _ := strings.Cut(out, " ")
		if name != tomcat.RealmUser || id == ids[7] {
			t.Fatalf("Tomcat's login: %q", out)
		}
		testutil.Eventually(t, within, func() error {
			p := g.m.Find(id).Principal()
			if p == nil || p.Name != tomcat.RealmUser || !p.HasRole("dev") || !p.HasRole("admin") {
				return fmt.Errorf("Go's session %s has the principal %+v", id, p)
			}
			return nil
		})
		// A user a Go handler authenticated is logged in on Tomcat.
		s := g.m.Find(ids[8])
		if err := s.SetPrincipal(&delta.Principal{Name: "gopher", Roles: []string{"dev"}}); err != nil {
			t.Fatal(err)
		}
		if err := g.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, within, func() error {
			if out, err := t1.Get("/whoami", tomcat.SessionCookie(ids[8])); err != nil || out != "gopher dev=true admin=false" {
				return fmt.Errorf("Tomcat with Go's session: %q %v, want gopher with the role dev only", out, err)
			}
			return nil
		})
	})

	t.Run("Expiry", func(t *testing.T) {
		if _, err := t1.Get("/invalidate", tomcat.SessionCookie(ids[3])); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, within, "Tomcat's invalidation on Go", func() bool { return g.m.Find(ids[3]) == nil })
		if err := g.m.Invalidate(ctx, g.m.Find(ids[4])); err != nil {
			t.Fatal(err)
		}
		testutil.EventuallyTrue(t, within, "Go's invalidation on Tomcat", func() bool {
			_, err := t1.Get("/get?name=counter", tomcat.SessionCookie(ids[4]))
			return err != nil && strings.HasPrefix(err.Error(), "404")
		})
	})

	t.Run("ChangeID", func(t *testing.T) {
		newID, err := t1.Get("/changeid", tomcat.SessionCookie(ids[5]))
		if err != nil || newID == ids[5] {
			t.Fatalf("%q %v", newID, err)
		}
		testutil.EventuallyTrue(t, within, "Tomcat's id change on Go", func() bool {
			return g.m.Find(newID) != nil && g.m.Find(ids[5]) == nil
		})
		// Tomcat's JvmRouteBinderValve renames a Go session to Tomcat's route, then the
		// request changes it: Go sees the new id with the change.
		gs, err := g.m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := gs.Set("counter", 1); err != nil {
			t.Fatal(err)
		}
		if err := g.m.Replicate(ctx, gs); err != nil {
			t.Fatal(err)
		}
		goOnly := gs.ID()
		out, err := t1.Get("/counter", tomcat.SessionCookie(goOnly))
		boundID, n, _ := strings.Cut(out, " ")
		if err != nil || n != "2" || !strings.HasSuffix(boundID, ".t1") {
			t.Fatalf("Tomcat's visit to a Go session: %q %v", out, err)
		}
		testutil.Eventually(t, within, func() error {
			c, ok := delta.Attr[int](g.m.Find(boundID), "counter")
			if c != 2 || !ok || g.m.Find(goOnly) != nil {
				return fmt.Errorf("Go: counter %d under the bound id, session under the old id: %v", c, g.m.Find(goOnly) != nil)
			}
			return nil
		})

		goID, err := g.m.ChangeSessionID(ctx, g.m.Find(ids[6]), "")
		if err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, within, func() error {
			got, err := t1.Get("/get?name=counter", tomcat.SessionCookie(goID))
			if err != nil || got != "java.lang.Integer|1" {
				return fmt.Errorf("Tomcat reads the renamed session's counter as %q (%v)", got, err)
			}
			return nil
		})
	})

	t.Run("GoReceivesTomcatChunks", func(t *testing.T) {
		// Tomcat's chunked state transfer: blocks of 1000 sessions.
		for _, p := range []string{"sendAllSessions=false", "sendAllSessionsSize=1000", "sendAllSessionsWaitTime=0"} {
			attr, value, _ := strings.Cut(p, "=")
			if _, err := t1.Get("/manager?attr="+attr+"&value="+value, nil); err != nil {
				t.Fatal(err)
			}
		}
		count, err := t1.Get("/count", nil)
		if err != nil {
			t.Fatal(err)
		}
		g2 := startGo(t, "go2", go2Member.Port, go2Member.UniqueID, []tomcat.Member{{Port: tc.Port, UniqueID: tc.UniqueID}})
		defer g2.stop(t)
		st := g2.m.Stats()
		if strconv.Itoa(g2.m.Len()) != count || st.Received[delta.EventAllSessionData] < 2 {
			t.Fatalf("second Go node: %d sessions in %d messages, Tomcat holds %s", g2.m.Len(),
				st.Received[delta.EventAllSessionData], count)
		}
	})

	// A Tomcat node joins the Go node's sessions, then dies.
	t1.Stop()
	testutil.EventuallyTrue(t, within, "Go drops the stopped Tomcat", func() bool { return len(g.ch.Members()) == 0 })
	for i := range sessions {
		s, err := g.m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("counter", 1000+i); err != nil {
			t.Fatal(err)
		}
		if err := g.m.Replicate(ctx, s); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID())
	}
	tc.Route, tc.HTTPPort = "t2", testutil.FreePorts(t, 1)[0]
	t2 := tomcat.Start(t, dir, app, tc)
	t.Run("TomcatReceivesGoSessions", func(t *testing.T) {
		count, err := t2.Get("/count", nil)
		if err != nil || count != strconv.Itoa(g.m.Len()) {
			t.Fatalf("Tomcat holds %q sessions (%v), the Go node %d", count, err, g.m.Len())
		}
		for _, i := range []int{sessions, sessions + 37, 2*sessions - 1} {
			got, err := t2.Get("/get?name=counter", tomcat.SessionCookie(ids[i]))
			if want := fmt.Sprintf("java.lang.Integer|%d", 1000+i-sessions); err != nil || got != want {
				t.Errorf("session %s: Tomcat reads %q (%v), want %q", ids[i], got, err, want)
			}
		}
	})

	t.Run("TomcatKilled", func(t *testing.T) {
		t2.Kill()
		// The killed node is still a member (until the membership expires it): an acked
		// replication fails and names it.
		s, err := g.m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Set("counter", 5); err != nil {
			t.Fatal(err)
		}
		err = g.m.Replicate(ctx, s)
		faulty := channel.FaultyMembers(err)
		if len(faulty) != 1 || int(faulty[0].Member.Port) != tc.Port {
			t.Fatalf("acked replication to the killed Tomcat: %v", err)
		}
		testutil.EventuallyTrue(t, within, "Go drops the killed Tomcat", func() bool { return len(g.ch.Members()) == 0 })
		if err := g.m.Replicate(ctx, s); err != nil {
			t.Fatalf("replication with no member left: %v", err)
		}
	})
}
