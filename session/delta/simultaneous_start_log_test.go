package delta_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// TestSimultaneousStartIsQuiet: two managers of one context starting at once each ask
// the other for its sessions while it waits for its own state transfer; each declines
// (EVT_ALL_SESSION_NOCONTEXTMANAGER), and each logged the warning meant for a member
// that runs no manager for the context ("member has no manager for the context"), though
// both do: the first request reached the other's cluster before its manager's Start
// registered it (the cluster answered as for a context it has no manager for, and
// warned of a message for such a context), the second a manager waiting for its own
// transfer. A cluster now answers for a manager NewManager made and not started yet as
// that manager does while it transfers, with a decline that says the member is starting
// (idNotReady), which the joiner logs at Info; the warnings are still there for a
// member that has no manager for the context (a manager of another name:
// TestWrongContextNameSaysWhatTheNameMustBe).
func TestSimultaneousStartIsQuiet(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var mu sync.Mutex
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	var ms []*delta.Manager
	for _, route := range []string{"a", "b"} {
		_, ch := newChannel(t, nw)
		cl := delta.NewCluster(ch, delta.ClusterConfig{Logger: logger})
		t.Cleanup(func() { _ = cl.Close(context.Background()) })
		m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: route, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			if err := m.Start(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, m := range ms {
		if err := m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	got := logs.String()
	mu.Unlock()
	for _, warning := range []string{"has no manager for the context", "context without a manager"} {
		if strings.Contains(got, warning) {
			t.Errorf("a simultaneous start logged the warning %q, meant for a member without the manager:\n%s", warning, got)
		}
	}
	if n := strings.Count(got, "member is starting its own manager"); n != len(ms) {
		t.Errorf("%d logs of a member starting, want %d (one a manager):\n%s", n, len(ms), got)
	}
	for i, m := range ms {
		if st := m.Stats(); st.TransferAttempts != 1 || st.TransferDeclined != 1 {
			t.Errorf("manager %d: %d attempts, %d declined; want 1 and 1", i, st.TransferAttempts, st.TransferDeclined)
		}
	}
}
