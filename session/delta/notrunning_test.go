package delta_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestCreateBeforeStartSaysSo: Create (and Serving) on a manager whose Start was not
// called returned the bare ErrStopped, "delta: manager not running", which a newcomer
// who forgot Start reads as a manager stopped by something; the error still wraps
// ErrStopped and now says that the manager is not started yet and to call Start, and
// after Stop that it is stopped.
func TestCreateBeforeStartSaysSo(t *testing.T) {
	ctx := context.Background()
	_, ch := newChannel(t, channeltest.NewNetwork())
	cl := newCluster(t, ch, delta.ClusterConfig{})
	defer func() { _ = cl.Close(context.Background()) }()
	m, err := cl.NewManager(delta.Config{Name: appName, MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	check := func(when, want string) {
		t.Helper()
		_, err := m.Create(ctx)
		for name, err := range map[string]error{"Create": err, "Serving": m.Serving()} {
			if !errors.Is(err, delta.ErrStopped) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s %s: %v, want ErrStopped saying %q", name, when, err, want)
			}
		}
	}
	check("before Start", "not started yet: call Start")
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx); err != nil {
		t.Fatalf("Create once started: %v", err)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	check("after Stop", "is stopped")
}
