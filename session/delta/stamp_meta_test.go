package delta_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// TestConcurrentMetaChangesConverge: two (then three) nodes change one session's max
// inactive interval, principal, auth type, a note and an attribute at once, each before
// it saw the other's change. The attribute went by the stamps (the same winner on every
// node), but the rest applied in arrival order: each node kept the other's principal,
// auth type, interval and note, so the nodes disagreed on who is logged in. They now
// follow the stamps too: every node holds the winning delta's parts, all from one delta.
func TestConcurrentMetaChangesConverge(t *testing.T) {
	for _, mode := range []delta.ReplicationMode{delta.ReplicateAcked, delta.ReplicateAsync} {
		for _, n := range []int{2, 3} {
			t.Run(fmt.Sprint(mode, "/", n), func(t *testing.T) {
				ms, gs := gatedNodes(t, n, mode)
				s := delta.CreateReplicated(t, ms[0], "x", "start")
				id := s.ID()
				var changes []func(*delta.Session) error
				for i := range n {
					changes = append(changes, func(s *delta.Session) error {
						return firstErr(s.Set("x", fmt.Sprint("from ", i)),
							s.SetMaxInactiveInterval(time.Duration(i+1)*10*time.Minute),
							s.SetPrincipal(&delta.Principal{Name: fmt.Sprint("user", i)}),
							s.SetAuthType(fmt.Sprint("auth", i)),
							s.SetNote("n", fmt.Sprint("note", i)))
					})
				}
				concurrently(t, id, ms, gs, changes)
				if mode == delta.ReplicateAsync {
					testutil.EventuallyTrue(t, 10*time.Second, "every node with the same session", func() bool {
						for _, m := range ms[1:] {
							if meta(m, id) != meta(ms[0], id) {
								return false
							}
						}
						return true
					})
				}
				want := meta(ms[0], id)
				for i, m := range ms[1:] {
					if got := meta(m, id); got != want {
						t.Errorf("node %d has %q, node 0 %q", i+1, got, want)
					}
				}
				won := -1
				for i := range n {
					if want == metaOf(i) {
						won = i
					}
				}
				if won < 0 {
					t.Errorf("every node has %q: the parts of different deltas", want)
				}
			})
		}
	}
}

// meta describes m's copy of session id: attribute x and the parts that are not
// attributes.
func meta(m *delta.Manager, id string) string {
	s := m.Find(id)
	if s == nil {
		return "(none)"
	}
	x, _ := delta.Attr[string](s, "x")
	note, _ := s.Note("n")
	p := "(none)"
	if pr := s.Principal(); pr != nil {
		p = pr.Name
	}
	return fmt.Sprintf("x=%s interval=%v principal=%s auth=%s note=%s", x, s.MaxInactiveInterval(), p, s.AuthType(), note)
}

// metaOf is meta of a copy holding node i's changes.
func metaOf(i int) string {
	return fmt.Sprintf("x=from %d interval=%v principal=user%d auth=auth%d note=note%d", i, time.Duration(i+1)*10*time.Minute, i, i, i)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
