package tomcatinterop_test

import (
	"context"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/tomcat"
	"github.com/gotribes/tribes/membership/staticsvc"
	"github.com/gotribes/tribes/session/delta"
)

// TestTomcatAnswersNoContextManager: a Tomcat node with no manager for the context a Go
// joiner asks for answers EVT_ALL_SESSION_NOCONTEXTMANAGER, and the Go joiner, with no
// other member to ask, starts empty once Config.MemberWait (3 s) passed without a new
// member, instead of waiting its StateTransferTimeout (docs/tomcat.md, state transfer
// between Go and Tomcat).
func TestTomcatAnswersNoContextManager(t *testing.T) {
	dir, app := setUp(t)
	_, ch := tomcatAndGo(t, dir, app, tomcat.Config{Route: "t1", UniqueID: uid(1)}, uid(2), staticsvc.DefaultChannelName)
	cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch, Codec: delta.JavaCodec{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	m, err := cl.NewManager(delta.Config{Name: "localhost#/nosuch", JvmRoute: "go1", Codec: delta.JavaValueCodec{},
		StateTransferTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	start := time.Now()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	took := time.Since(start)
	if n := m.Stats().Received[delta.EventNoContextManager]; n != 1 || m.Len() != 0 {
		t.Fatalf("received %d NO-CONTEXT-MANAGER answers, holds %d sessions; want 1 and 0", n, m.Len())
	}
	if took < delta.DefaultMemberWait || took > 30*time.Second {
		t.Fatalf("ready after %v, want MemberWait (%v) and well under StateTransferTimeout", took, delta.DefaultMemberWait)
	}
	t.Logf("ready, empty, after %v", took.Round(time.Millisecond))
}
