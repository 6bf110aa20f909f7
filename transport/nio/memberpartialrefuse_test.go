package nio

import (
	"bytes"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/gotribes/tribes/internal/testutil"
)

// A connection refused because its partial small frame's bytes would take PendingBytes
// past MaxPendingBytes is not counted in it: the refusal sees the budget held (before,
// its bytes were added first and counted until the connection was closed, so the budget
// stood exceeded meanwhile, by the part of its bytes past it, and TestMembersPartialSmallFramesWithinTheBudget
// saw PendingBytes over MaxPendingBytes now and then).
func TestRefusedPartialSmallFrameNotCounted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, cfg Config) {
		const (
			budget = 64 << 10
			part   = 20 << 10 // three fit, the fourth does not
		)
		var mu sync.Mutex
		var logs bytes.Buffer
		cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
		cfg.MaxFrameSize = budget / 2
		cfg.MaxPendingBytes = budget
		b := startNode(t, cfg, nil) // no sender check: every sender is a member
		start := frame(b.wire, 0, make([]byte, largeFrame-1-(len(frame(b.wire, 0, nil)))))[:part]
		var cs []net.Conn
		for i := range 4 {
			c := dialRaw(t, b)
			cs = append(cs, c)
			if _, err := c.Write(start); err != nil {
				t.Fatal(err)
			}
			want := int64(i+1) * part
			testutil.EventuallyTrue(t, waitTimeout, "the part read or refused", func() bool {
				st := b.t.Stats()
				return st.PendingBytes == want || st.FramesRefused > 0
			})
		}
		refusal := regexp.MustCompile(`no budget for its frame.* pending=(\d+)`)
		var m []string
		testutil.EventuallyTrue(t, waitTimeout, "the fourth refused and logged", func() bool {
			mu.Lock()
			defer mu.Unlock()
			m = refusal.FindStringSubmatch(logs.String())
			return m != nil
		})
		if n := b.t.Stats().FramesRefused; n != 1 {
			t.Fatalf("%d connections refused, want the fourth", n)
		}
		pending, _ := strconv.Atoi(m[1])
		t.Logf("refused with %d bytes pending of %d", pending, budget)
		if pending > budget {
			t.Fatalf("the refused connection's bytes counted: %d bytes pending at its refusal, over MaxPendingBytes %d", pending, budget)
		}
		for _, c := range cs {
			_ = c.Close()
		}
		testutil.EventuallyTrue(t, waitTimeout, "the budget returned", func() bool { return b.t.Stats().PendingBytes == 0 })
	})
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
