package tomcatinterop_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/node"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// TestGoWithoutStaticProtocolIsNotListedByTomcat: a Go node configured with the Tomcat node
// as a static member but without node.Config.StaticProtocol (Tomcat's
// StaticMembershipService speaks a member protocol of its own) lists Tomcat, receives its
// state transfer (Tomcat answers a node it does not list) and replicates to it (Tomcat
// applies a non-member's messages), but Tomcat never lists it and so sends it none of its
// changes: a session Tomcat creates with acknowledged replication (channelSendOptions 6,
// whose answer comes once the members applied the change) is not on the Go node, request
// after request for several seconds, and Tomcat's log never shows the Go node added as a
// member (docs/tomcat.md, the Go side).
func TestGoWithoutStaticProtocolIsNotListedByTomcat(t *testing.T) {
	dir, app := setUp(t)
	ports := testutil.FreePorts(t, 3)
	goID := uid(2)
	ta := tomcat.Start(t, dir, app, tomcat.Config{Route: "t1", UniqueID: uid(1), Port: ports[0], HTTPPort: ports[1],
		SendOption: 6, NoJvmRoute: true, Members: []tomcat.Member{{Port: ports[2], UniqueID: goID}}})
	static, err := wire.ParseMemberList(fmt.Sprintf("127.0.0.1:%d:%s", ports[0], uid(1)))
	if err != nil {
		t.Fatal(err)
	}
	tcfg := nio.DefaultConfig()
	tcfg.Address, tcfg.Port, tcfg.AutoBind = "127.0.0.1", ports[2], 1
	ch, err := node.New(node.Config{Transport: &tcfg, StaticMembers: static, UniqueID: goID, AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	cleanupWithin(t, "stopping the Go channel", stopWithin, func() {
		sctx, scancel := context.WithTimeout(context.Background(), stopWithin)
		defer scancel()
		_ = ch.Stop(sctx, channel.SvcAll)
	})
	if err := ch.WaitForMembers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	before := createSessions(t, ta, 1)[0] // a session Tomcat held before the Go node came
	g := newGoNode(t, ch, delta.JavaCodec{}, delta.Config{MemberWait: -1})
	if err := g.m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.m.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v\n%s", err, ta.Log())
	}
	if g.m.Find(before) == nil {
		t.Fatalf("the state transfer did not bring Tomcat's session %s", before)
	}

	s, err := g.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("counter", 7); err != nil {
		t.Fatal(err)
	}
	if err := g.m.Replicate(ctx, s); err != nil {
		t.Fatalf("Go's acked replication to Tomcat: %v", err)
	}
	if out, err := ta.Get("/get?name=counter", tomcat.SessionCookie(s.ID())); err != nil || out != "java.lang.Integer|7" {
		t.Fatalf("Tomcat reads Go's session as %q, %v", out, err)
	}

	// Tomcat's static membership adds a member within about a second of its first answer;
	// five seconds of Tomcat sessions, each acknowledged before its answer, reach no one.
	deadline := time.Now().Add(5 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		id := createSessions(t, ta, 1)[0]
		n++
		if g.m.Find(id) != nil {
			t.Fatalf("Tomcat's session %s reached the Go node after %d sessions: Tomcat lists it\n%s", id, n, ta.Log())
		}
		time.Sleep(250 * time.Millisecond) // pacing of the requests, not a synchronisation
	}
	if strings.Contains(ta.Log(), "Replication member added") {
		t.Fatalf("Tomcat added a member:\n%s", ta.Log())
	}
	t.Logf("%d Tomcat sessions, none on the Go node; Go's session read on Tomcat", n)
}
