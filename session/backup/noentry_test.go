package backup_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/session/backup"
)

// A request whose session was invalidated on the other nodes, on a node that missed the
// removal (it still holds the id as a proxy), gets a new session: the backup answers that
// it holds no such session (replmap.ErrNoEntry), which Find takes for no session. Before,
// the answer was the same error as an unreachable backup, and the client got an error
// page (500) for a session that was really gone.
func TestProxyOfInvalidatedSessionGivesNewSession(t *testing.T) {
	ms, nodes := startManagerNodes(t, 3, backup.Config{DisableJvmRouteBinder: true})
	_, c := request(t, ms[0], "/", "")
	id := c.Value
	bk, px := 1, 2
	if ms[px].Map().Len() != 0 {
		bk, px = px, bk
	}
	nodes[px].SetMaxMessageSize(1) // the proxy's node misses the removal
	_ = ms[0].Invalidate(context.Background(), id)
	nodes[px].SetMaxMessageSize(0)
	if slices.Contains(ms[bk].Map().Keys(), any(id)) || !slices.Contains(ms[px].Map().Keys(), any(id)) {
		t.Fatal("want the session removed from its backup and still listed by the proxy")
	}
	if s, err := ms[px].Find(context.Background(), id); s != nil || err != nil {
		t.Fatalf("Find of a session removed on the other nodes: %v, %v; want none and no error", s, err)
	}
	body, c := request(t, ms[px], "/", id)
	if c == nil || c.Value == id || !strings.HasSuffix(body, " 1\n") {
		t.Fatalf("request with the removed session's id: body %q, cookie %+v; want a new session", body, c)
	}
}
