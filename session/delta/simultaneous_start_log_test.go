package delta_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

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
		cl := newCluster(t, ch, delta.ClusterConfig{Logger: logger})
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

// TestNeverStartedManagerStopsAnsweringStarting: a cluster answers for a manager
// NewManager made and that was neither started nor stopped as for a manager starting
// (TestSimultaneousStartIsQuiet), but such a manager may never start (made and dropped,
// or refused by Start as another's duplicate): the cluster answered so for ever, and a
// member asking for the context's sessions logged at Info that the member is starting
// where it should warn that the member has no manager for the context. The answer now
// says so only for a while after NewManager (a minute; here shortened): past it, the
// asker warns again.
func TestNeverStartedManagerStopsAnsweringStarting(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var mu sync.Mutex
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	_, ch := newChannel(t, nw)
	idle := newCluster(t, ch, delta.ClusterConfig{Logger: logger})
	t.Cleanup(func() { _ = idle.Close(context.Background()) })
	if _, err := idle.NewManager(delta.Config{Name: appName, JvmRoute: "a", Logger: logger}); err != nil {
		t.Fatal(err) // made, never started nor stopped
	}
	delta.SetNotStartedFor(idle, time.Nanosecond)

	_, ch2 := newChannel(t, nw)
	cl := newCluster(t, ch2, delta.ClusterConfig{Logger: logger})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: "b", MemberWait: -1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := logs.String()
	mu.Unlock()
	if strings.Contains(got, "member is starting its own manager") || !strings.Contains(got, "has no manager for the context") {
		t.Errorf("the joiner asked a member whose manager was made long ago and never started; want the warning "+
			"for a member without the manager, not the log of one starting:\n%s", got)
	}
	if st := m.Stats(); st.TransferDeclined != 1 {
		t.Errorf("TransferDeclined %d, want 1", st.TransferDeclined)
	}
}
