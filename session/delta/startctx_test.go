package delta_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestStartContextDoesNotBoundTheManager: Start's doc did not say what its ctx does, and a
// newcomer starting the manager in a setup function with a context of its own (cancelled
// when the setup returns) could not tell whether the state transfer and the manager ended
// with it. They do not: Start does not block, and the manager, its state transfer
// included, runs until Stop whatever ctx (it keeps only ctx's values). A joiner started
// with a context cancelled once Start returned, and one started with a context that had
// ended already, both get the running node's session and serve.
func TestStartContextDoesNotBoundTheManager(t *testing.T) {
	nw := channeltest.NewNetwork()
	a := startReady(t, nw, delta.Config{JvmRoute: "a"})
	ctx := context.Background()
	s, err := a.m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := firstErr(s.Set("user", "alice"), a.m.Replicate(ctx, s)); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"cancelled after Start", "ended before Start"} {
		_, ch := newChannel(t, nw)
		startCtx, cancel := context.WithCancel(ctx)
		if name == "ended before Start" {
			cancel()
		}
		cl := newCluster(t, ch, delta.ClusterConfig{})
		t.Cleanup(func() { _ = cl.Close(context.Background()) })
		m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: fmt.Sprint("j", i), MemberWait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(startCtx); err != nil {
			t.Fatalf("%s: Start: %v", name, err)
		}
		cancel()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		err = m.WaitReady(wctx)
		wcancel()
		if err != nil {
			t.Fatalf("%s: the joiner's state transfer did not complete: %v", name, err)
		}
		if user, _ := delta.Attr[string](m.Find(s.ID()), "user"); user != "alice" {
			t.Fatalf("%s: the joiner holds user=%q of the running node's session, want alice", name, user)
		}
		if err := m.Serving(); err != nil {
			t.Fatalf("%s: the joiner does not serve: %v", name, err)
		}
	}
}
