package tomcatinterop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/replmap"
)

// TestReplicatedContext runs a Tomcat 10.1 node whose /app is a ReplicatedContext and a
// Go node in the map of its ServletContext attributes: an attribute the application sets
// on Tomcat is read on Go, one Go puts is the application's attribute on Tomcat, and a
// removal on either side removes it on the other.
func TestReplicatedContext(t *testing.T) {
	dir, app := setUp(t)
	ctx := context.Background()
	ta, ch := tomcatAndGo(t, dir, app, tomcat.Config{Route: "A", UniqueID: uid(51), SendOption: 6, ReplicatedContext: true},
		uid(53), staticsvc.DefaultChannelName)
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	m, err := replmap.New(replmap.ReplicatedContextConfig(ch, "/app"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(wctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	tomcatGet := func(path string) string {
		t.Helper()
		out, err := ta.Get(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("TomcatToGo", func(t *testing.T) {
		tomcatGet("/ctxset?name=greeting&kind=string&value=hello")
		tomcatGet("/ctxset?name=visits&kind=long&value=7")
		testutil.Eventually(t, 30*time.Second, func() error {
			g, _, _ := m.Peek("greeting")
			v, _, _ := m.Peek("visits")
			if g != "hello" || v != int64(7) {
				return fmt.Errorf("Go holds greeting %#v, visits %#v", g, v)
			}
			return nil
		})
		tomcatGet("/ctxset?name=greeting")
		testutil.EventuallyTrue(t, 30*time.Second, "Go drops the attribute Tomcat removed", func() bool {
			_, _, ok := m.Peek("greeting")
			return !ok
		})
	})

	t.Run("GoToTomcat", func(t *testing.T) {
		if _, err := m.Put(ctx, "answer", int32(42)); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Put(ctx, "motto", "share everything"); err != nil {
			t.Fatal(err)
		}
		// USE_ACK: Tomcat acknowledges a message on receipt, before its map applies it.
		testutil.Eventually(t, 30*time.Second, func() error {
			a, mo := tomcatGet("/ctxget?name=answer"), tomcatGet("/ctxget?name=motto")
			if a != "java.lang.Integer|42" || mo != "java.lang.String|share everything" {
				return fmt.Errorf("Tomcat reads answer %q, motto %q", a, mo)
			}
			return nil
		})
		if _, err := m.Remove(ctx, "answer"); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 30*time.Second, func() error {
			if got := tomcatGet("/ctxget?name=answer"); got != "-" {
				return fmt.Errorf("Tomcat reads answer %q after Go removed it", got)
			}
			return nil
		})
	})
}
