package backup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/wire"
)

// TestMembersListedByAddressBackUpSessions: two nodes whose static memberships list each
// other without a unique id (host:port, as node.Config.StaticMembers allows) back up
// each other's sessions: the session n0 makes has its backup on n1, which serves the
// client's next request from it (replmap's TestMembersListedByAddressShareAMap; before,
// the maps never listed each other and n1 had nothing).
func TestMembersListedByAddressBackUpSessions(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := []*channeltest.Node{nw.NewNode(), nw.NewNode()}
	byAddress := func(n *channeltest.Node) channel.Member {
		return wire.Member{Host: []byte{127, 0, 0, 1}, Port: n.Port(), SecurePort: -1, UDPPort: -1}
	}
	var chans []*channel.Channel
	for i, n := range nodes {
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: static.New(byAddress(nodes[1-i])),
			HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)
		chans = append(chans, ch)
	}
	var ms []*backup.Manager
	for i, ch := range chans {
		m, err := backup.NewManager(backup.Config{Channel: ch, Name: "localhost#/app", JvmRoute: []string{"n0", "n1"}[i]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Stop(context.Background()) })
		ms = append(ms, m)
	}
	for _, m := range ms { // each map answers the other's MSG_INIT at once (startManagerNodesOn)
		if err := m.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range ms {
		testutil.EventuallyTrue(t, testutil.WaitLimit, "map members", func() bool { return len(m.Map().Members()) == 1 })
	}
	body, c := request(t, ms[0], "/", "")
	id := c.Value
	if body != id+" 1\n" {
		t.Fatalf("first request: %q", body)
	}
	if b := backupOf(ms, id); b != 1 {
		t.Fatalf("the backup of %s is on n%d; want n1", id, b)
	}
	body, nc := request(t, ms[1], "/", id)
	cur := id
	if nc != nil {
		cur = nc.Value
	}
	if want := cur + " 2\n"; body != want || !strings.HasPrefix(cur, strings.TrimSuffix(id, ".n0")) {
		t.Errorf("the next request on n1: %q, want %q", body, want)
	}
}
