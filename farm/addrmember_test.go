package farm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/membership/static"
	"github.com/gotribes/tribes/wire"
)

// TestMemberListedByAddressMaySend: a static member listed without a unique id (as
// host:port, as node.Config.StaticMembers allows) stands for whichever node runs at its
// address, and the channel's sender check lets that node's messages through
// (channel.Config.AcceptNonMembers). The deployer refused them all, a file and an
// undeploy, with channel.ErrNotMember: it looked the sender up by its key alone, unique
// id included. Now it follows the channel's check: the file is installed from the node
// itself (Deployment.From carries its id) and the undeploy removes it.
func TestMemberListedByAddressMaySend(t *testing.T) {
	nw := channeltest.NewNetwork()
	na, nb := nw.NewNode(), nw.NewNode()
	byAddress := func(n *channeltest.Node) channel.Member {
		return wire.Member{Host: []byte{127, 0, 0, 1}, Port: n.Port(), SecurePort: -1, UDPPort: -1}
	}
	newChannel := func(n, peer *channeltest.Node) *channel.Channel {
		ch, err := channel.New(channel.Config{Transport: n.Transport(), Membership: static.New(byAddress(peer)),
			HeartbeatInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		channeltest.Start(t, ch)
		return ch
	}
	chA, chB := newChannel(na, nb), newChannel(nb, na)
	if _, ok := chB.Member(chA.LocalMember().Key()); ok {
		t.Fatal("B lists A by its key: the member should be listed by address alone")
	}
	installs, removals := make(chan farm.Deployment, 1), make(chan string, 1)
	newDeployer := func(ch *channel.Channel, onInstall func(farm.Deployment) error, onRemove func(string)) (*farm.Deployer, string) {
		deploy := t.TempDir()
		d, err := farm.New(farm.Config{Channel: ch, DeployDir: deploy, TempDir: t.TempDir(), OnInstall: onInstall, OnRemove: onRemove})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Stop(context.Background()) })
		return d, deploy
	}
	da, _ := newDeployer(chA, nil, nil)
	db, deployB := newDeployer(chB, func(dep farm.Deployment) error { installs <- dep; return nil },
		func(c string) { removals <- c })

	src := writeFile(t, t.TempDir(), "shop.war", content(3*farm.DefaultChunkSize+17, 5))
	if err := da.Install(context.Background(), "/shop", src); err != nil {
		t.Fatalf("Install to a member listed by address: %v", err)
	}
	select {
	case dep := <-installs:
		if dep.ContextName != "/shop" || dep.From.Key() != chA.LocalMember().Key() {
			t.Errorf("installed %+v, want /shop from %s", dep, chA.LocalMember())
		}
	default:
		t.Fatal("Install returned and B installed nothing")
	}
	if got, err := os.ReadFile(filepath.Join(deployB, "shop.war")); err != nil || len(got) != 3*farm.DefaultChunkSize+17 {
		t.Errorf("B's shop.war: %d bytes, %v", len(got), err)
	}
	if err := da.Remove(context.Background(), "/shop", false); err != nil {
		t.Fatalf("Remove on a member listed by address: %v", err)
	}
	select {
	case c := <-removals:
		if c != "/shop" {
			t.Errorf("B removed %q", c)
		}
	default:
		t.Fatal("Remove returned and B removed nothing")
	}
	if st := db.Stats(); st.Refused != 0 || st.FilesReceived != 1 || st.UndeploysReceived != 1 {
		t.Errorf("B's deployer %+v, want a file and an undeploy received, nothing refused", st)
	}
}
