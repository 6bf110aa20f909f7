package delta_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// lockedBuffer is a bytes.Buffer safe for a logger and a test reading it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAsyncRefusedChangeIsLoggedWithItsReason: an async manager's delta that the codec
// refuses (a note name longer than the peers' MaxStringLen) has no caller waiting for
// it: the warning is all that tells of it. It said "asynchronous replication failed"
// with err=<nil> (the outcome of the batch's other messages), not why. The note is now
// left out of the delta (send_limits.go, as by Replicate), the warning saying so.
func TestAsyncRefusedChangeIsLoggedWithItsReason(t *testing.T) {
	ctx := context.Background()
	codec := delta.BinaryCodec{MaxStringLen: 256}
	var logs lockedBuffer
	nw := channeltest.NewNetwork()
	_, ach := newChannel(t, nw)
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cl := newCluster(t, ach, delta.ClusterConfig{Codec: codec, Logger: logger})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	a, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: "a", MemberWait: -1, Replication: delta.ReplicateAsync,
		Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	_, bch := newChannel(t, nw)
	readyManager(t, bch, codec, delta.Config{JvmRoute: "b"})
	testutil.EventuallyTrue(t, 10*time.Second, "A sees B", func() bool { return len(ach.Members()) == 1 })
	mw, err := delta.NewMiddleware(a, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := delta.FromContext(r.Context()).GetOrCreate()
		if err == nil {
			err = s.SetNote(strings.Repeat("n", 300), "v")
		}
		if err != nil {
			t.Error(err)
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	testutil.EventuallyTrue(t, 10*time.Second, "the refusal was logged", func() bool {
		return strings.Contains(logs.String(), "changes left out of a session's delta for the codec's limits")
	})
	if got := logs.String(); !strings.Contains(got, "MaxStringLen") {
		t.Errorf("the warning does not say why the change was refused:\n%s", got)
	}
}
