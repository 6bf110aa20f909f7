package tomcatinterop_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/delta"
)

// webappCart returns the test web application's TestServlet$Cart { int items; String
// owner } with a class descriptor of its own, as each value a Go node decoded from a
// stream of its own holds.
func webappCart(t *testing.T, owner string, items int32) *jserial.Object {
	t.Helper()
	desc := &jserial.ClassDesc{Name: "TestServlet$Cart", SUID: 1, Flags: jserial.SCSerializable,
		Fields: []jserial.Field{{Type: 'I', Name: "items"}, {Type: 'L', Name: "owner", Signature: "Ljava/lang/String;"}}}
	o, err := jserial.NewObject(desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.SetField("items", items); err != nil {
		t.Fatal(err)
	}
	if err := o.SetField("owner", owner); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestTomcatReadsSharedDescriptors: a Go delta holding several values of one web
// application class writes the class's descriptor once and refers back to it
// (TestJavaCodecSharesClassDescriptors), and so does the Go node's state transfer; Tomcat
// reads both (DeltaRequest.readExternal and DeltaManager.deserializeSessions read one
// stream for all the values).
func TestTomcatReadsSharedDescriptors(t *testing.T) {
	const carts = 8
	dir, app := setUp(t)
	ctx := context.Background()
	ports := testutil.FreePorts(t, 3) // Tomcat receiver, Tomcat HTTP, Go receiver
	goMember := tomcat.Member{Port: ports[2], UniqueID: uid(2)}
	tc := tomcat.Config{Route: "t1", Port: ports[0], UniqueID: uid(1), HTTPPort: ports[1], Members: []tomcat.Member{goMember}}
	t1 := tomcat.Start(t, dir, app, tc)
	g := startGo(t, "go1", goMember.Port, goMember.UniqueID, []tomcat.Member{{Port: tc.Port, UniqueID: tc.UniqueID}})

	s, err := g.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range carts {
		if err := s.Set(fmt.Sprint("cart", i), webappCart(t, fmt.Sprint("owner", i), int32(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.m.Replicate(ctx, s); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, tn *tomcat.Node) {
		t.Helper()
		testutil.Eventually(t, within, func() error {
			for i := range carts {
				got, err := tn.Get("/get?name=cart"+strconv.Itoa(i), tomcat.SessionCookie(s.ID()))
				if want := fmt.Sprintf("TestServlet$Cart|owner%d:%d", i, i); err != nil || got != want {
					return fmt.Errorf("Tomcat reads cart%d as %q (%v), want %q", i, got, err, want)
				}
			}
			return nil
		})
	}
	t.Run("Delta", func(t *testing.T) { check(t, t1) })

	// A Tomcat node that joins the Go node alone gets the session in its state transfer.
	t1.Stop()
	testutil.EventuallyTrue(t, within, "Go drops the stopped Tomcat", func() bool { return len(g.ch.Members()) == 0 })
	tc.Route, tc.HTTPPort = "t2", testutil.FreePorts(t, 1)[0]
	t2 := tomcat.Start(t, dir, app, tc)
	t.Run("StateTransfer", func(t *testing.T) { check(t, t2) })
	if n := g.m.Stats().Sent[delta.EventAllSessionData]; n == 0 {
		t.Errorf("the Go node sent no state transfer (%+v)", g.m.Stats())
	}
}
