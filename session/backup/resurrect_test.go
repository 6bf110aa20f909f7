package backup_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/backup"
)

// TestLogoutDuringRelocation: the session's backup leaves and its primary n0 gives the
// session a new backup on the third node (its full copy held on the way here), while
// the user logs out on n0: the removal reaches the third node first, the copy after. A
// logout must be final: the third node must not keep the copy, which a request with the
// old cookie there would take over, the user logged in again. Before, the map's
// relocation published the copy and, finding the entry removed meanwhile, left it where
// it had arrived.
func TestLogoutDuringRelocation(t *testing.T) {
	g := newGate()
	ms, _ := startManagerNodesWith(t, 3, backup.Config{DisableJvmRouteBinder: true}, map[int]channel.Interceptor{0: g})
	body, c := request(t, ms[0], "/", "")
	id := c.Value
	if body != id+" 1\n" {
		t.Fatalf("first request: %q", body)
	}
	b := backupOf(ms, id)
	if b <= 0 {
		t.Fatalf("no backup node of %s", id)
	}
	third := 3 - b
	g.armCopy(id)
	stopped := make(chan error, 1)
	go func() { stopped <- ms[b].Stop(context.Background()) }()
	<-g.held // n0's MSG_BACKUP of the session to the third node
	request(t, ms[0], "/logout", id)
	close(g.after)
	if err := <-stopped; err != nil {
		t.Fatalf("the backup's Stop: %v", err)
	}
	if _, _, ok := ms[third].Map().Peek(id); ok || slices.Contains(ms[third].Map().Keys(), any(id)) {
		t.Errorf("n%d still holds the session after the logout", third)
	}
	if body, _ := request(t, ms[third], "/", id); strings.HasPrefix(body, id+" ") {
		t.Errorf("the old cookie on n%d continues the logged-out session: %q", third, body)
	}
}

// TestLogoutDuringTakeover: a request on the backup node takes the session over (its
// copy on the way to the node it picked as the new backup is held here) while a logout
// on that same node removes the session: no node may keep a copy or a proxy of it.
// Before, the takeover, finding the entry removed meanwhile, left the new backup its
// copy.
func TestLogoutDuringTakeover(t *testing.T) {
	gates := []*gate{newGate(), newGate(), newGate()}
	ms, _ := startManagerNodesWith(t, 3, backup.Config{DisableJvmRouteBinder: true},
		map[int]channel.Interceptor{0: gates[0], 1: gates[1], 2: gates[2]})
	ctx := context.Background()
	_, c := request(t, ms[0], "/", "")
	id := c.Value
	b := backupOf(ms, id)
	if b <= 0 {
		t.Fatalf("no backup node of %s", id)
	}
	g := gates[b]
	g.armCopy(id)
	type found struct {
		s   *backup.Session
		err error
	}
	took := make(chan found, 1)
	go func() {
		s, err := ms[b].Find(ctx, id)
		took <- found{s, err}
	}()
	<-g.held // the takeover's MSG_BACKUP to the new backup
	if err := ms[b].Invalidate(ctx, id); err != nil {
		t.Fatalf("logout: %v", err)
	}
	close(g.after)
	if f := <-took; f.err != nil || f.s != nil {
		t.Errorf("the takeover of a session removed meanwhile: %v, %v", f.s, f.err)
	}
	for i, m := range ms {
		if _, _, ok := m.Map().Peek(id); ok || slices.Contains(m.Map().Keys(), any(id)) {
			t.Errorf("n%d still holds the session after the logout", i)
		}
	}
}
