package farm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/wire"
)

// TestStrangerCannotDeployOrUndeploy: on a channel with AcceptNonMembers, the setting
// docs/tomcat.md gives the Go side of a Tomcat cluster (StaticMembershipService's replies
// come from nodes not listed yet), the channel delivers every sender's messages. The
// deployer installed a stranger's file (a web application the host then runs) and removed
// a context at its request; now it refuses both with an error wrapping
// channel.ErrNotMember (FAIL_ACK to a synchronized-ack sender), counts them in
// Stats.Refused and leaves the deploy directory as it was.
func TestStrangerCannotDeployOrUndeploy(t *testing.T) {
	nw := channeltest.NewNetwork()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1,
		AcceptNonMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	deploy := t.TempDir()
	var installs []farm.Deployment
	var removals []string
	d, err := farm.New(farm.Config{Channel: ch, DeployDir: deploy, TempDir: t.TempDir(),
		OnInstall: func(dep farm.Deployment) error { installs = append(installs, dep); return nil },
		OnRemove:  func(c string) { removals = append(removals, c) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background()) })
	shop := filepath.Join(deploy, "shop.war")
	if err := os.WriteFile(shop, []byte("the shop"), 0o644); err != nil {
		t.Fatal(err)
	}

	stranger := wire.Member{Port: 4666, SecurePort: -1, UDPPort: -1, Host: []byte{10, 6, 6, 6}, UniqueID: wire.UniqueID{6, 6}}
	if _, ok := ch.Member(stranger.Key()); ok {
		t.Fatal("the stranger is a member")
	}
	file, err := farm.AppendMessage(nil, &farm.FileMessage{Number: 1, Total: 1, FileName: "evil.war",
		ContextName: "/evil", Data: []byte("a stranger's web application")})
	if err != nil {
		t.Fatal(err)
	}
	over, err := farm.AppendMessage(nil, &farm.FileMessage{Number: 1, Total: 1, FileName: "shop.war",
		ContextName: "/shop", Data: []byte("a stranger's shop")})
	if err != nil {
		t.Fatal(err)
	}
	undeploy, err := farm.AppendMessage(nil, &farm.UndeployMessage{ContextName: "/shop"})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{file, over, undeploy} {
		err := farm.Receive(d, &channel.Message{Source: stranger, Options: channel.OptUseAck | channel.OptSyncAck, Data: data})
		if !errors.Is(err, channel.ErrNotMember) {
			t.Errorf("a stranger's message: %v, want an error wrapping channel.ErrNotMember", err)
		}
	}
	if _, err := os.Stat(filepath.Join(deploy, "evil.war")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a stranger's file was installed (stat: %v)", err)
	}
	if b, err := os.ReadFile(shop); err != nil || string(b) != "the shop" {
		t.Errorf("shop.war after the stranger's messages: %q, %v", b, err)
	}
	if len(installs) != 0 || len(removals) != 0 {
		t.Errorf("OnInstall %v, OnRemove %v for a stranger", installs, removals)
	}
	if st := d.Stats(); st.Refused != 3 || st.FilesReceived != 0 || st.UndeploysReceived != 0 || st.Incomplete != 0 {
		t.Errorf("stats %+v, want 3 refused and nothing received", st)
	}
}
