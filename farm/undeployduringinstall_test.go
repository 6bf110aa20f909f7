package farm_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestUndeployDuringOnInstallIsBusy: OnInstall is the deployment of a received file
// ("Tomcat then deploys it with HostConfig.check"), and Tomcat's HostConfig.check marks
// the context serviced while it deploys, so an UndeployMessage arriving meanwhile
// fails tryAddServiced and is refused ("farmWarDeployer.servicingUndeploy"); ErrBusy
// says "the context is being deployed or removed already". The deployer used to run
// OnInstall after it unmarked the context: an undeploy arriving during OnInstall
// removed the file and called OnRemove while OnInstall of the same context still ran,
// so the application ended with the context deployed and its file gone.
func TestUndeployDuringOnInstallIsBusy(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a := startNode(t, nw, farm.Config{})
	_, bch := nw.StartChannel(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	installing := false
	var removedDuringInstall []string
	b, err := farm.New(farm.Config{Channel: bch, DeployDir: t.TempDir(), TempDir: t.TempDir(),
		OnInstall: func(farm.Deployment) error {
			mu.Lock()
			installing = true
			mu.Unlock()
			once.Do(func() { close(entered) })
			<-release
			mu.Lock()
			installing = false
			mu.Unlock()
			return nil
		},
		OnRemove: func(c string) {
			mu.Lock()
			defer mu.Unlock()
			if installing {
				removedDuringInstall = append(removedDuringInstall, c)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(ctx) })
	installed := make(chan error, 1)
	src := writeFile(t, t.TempDir(), "shop.war", content(100, 1))
	go func() { installed <- a.d.Install(ctx, "/shop", src) }()
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("OnInstall was not called")
	}
	undeploy, err := farm.AppendMessage(nil, &farm.UndeployMessage{Sender: a.ch.LocalMember(), ContextName: "/shop",
		UniqueID: "Undeploy:/shop:1", Timestamp: 1})
	if err != nil {
		t.Fatal(err)
	}
	uerr := farm.Receive(b, &channel.Message{Source: a.ch.LocalMember(), Data: undeploy})
	close(release)
	if err := <-installed; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	during := removedDuringInstall
	mu.Unlock()
	if !errors.Is(uerr, farm.ErrBusy) || len(during) != 0 {
		t.Fatalf("an undeploy of /shop while OnInstall(/shop) runs: %v, want ErrBusy; OnRemove called during "+
			"OnInstall for %v", uerr, during)
	}
}
