package delta_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// A Go manager named otherwise than the Tomcat manager it should share sessions with ("/app"
// beside Tomcat's "localhost#/app", the mistake a Tomcat user makes who knows the context
// path) gets none of them: the donor answers EVT_ALL_SESSION_NOCONTEXTMANAGER and the
// joiner starts empty, and the members' messages about their application reach no manager
// here. Both logs say what the names must be: the joiner's warning (Tomcat warns too) names
// Tomcat's naming of a manager, and the unknown context's warning names this node's
// managers beside the context the message named.
func TestWrongContextNameSaysWhatTheNameMustBe(t *testing.T) {
	nw := channeltest.NewNetwork()
	donor := startReady(t, nw, delta.Config{Name: "localhost#/app", JvmRoute: "t1"})

	var mu sync.Mutex
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	_, ch := newChannel(t, nw)
	cl := newCluster(t, ch, delta.ClusterConfig{Logger: logger})
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	m, err := cl.NewManager(delta.Config{Name: "/app", JvmRoute: "go1", MemberWait: -1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	fill(t, donor, 1) // its delta reaches this node's cluster, which has no such manager

	var got, declined, unknown string
	// The member's message reaches this node's cluster on a receive goroutine.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the unknown context's warning", func() bool {
		mu.Lock()
		got = logs.String()
		mu.Unlock()
		for line := range strings.SplitSeq(got, "\n") {
			switch {
			case strings.Contains(line, "EVT_ALL_SESSION_NOCONTEXTMANAGER"):
				declined = line
			case strings.Contains(line, "context without a manager"):
				unknown = line
			}
		}
		return unknown != ""
	})
	if !strings.Contains(declined, "level=WARN") || !strings.Contains(declined, "<host>#<context path>") ||
		!strings.Contains(declined, "context=/app") {
		t.Errorf("the joiner's log does not say how Tomcat names a manager:\n%s", got)
	}
	// Without a Logger (Config.Logger's doc), the counters still show both.
	if st := m.Stats(); st.TransferDeclined != 1 {
		t.Errorf("Stats.TransferDeclined = %d, want 1", st.TransferDeclined)
	}
	if st := cl.Stats(); st.UnknownContext == 0 {
		t.Error("ClusterStats.UnknownContext = 0")
	}
	if !strings.Contains(unknown, "context=localhost#/app") || !strings.Contains(unknown, "managers=[/app]") {
		t.Errorf("the unknown context's warning does not name this node's managers:\n%s", got)
	}
}
