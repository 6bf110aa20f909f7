package farm_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestStopWaitsForReceivedInstall: Stop waits for the watcher's OnInstall (a Stop whose
// context ends first returns its error, TestStopAfterTimeoutCleansUp), and for the
// OnInstall of a received file too. It used not to: it removed the listener (which does
// not wait for a delivery in progress) and returned nil while the install of a file
// whose last chunk arrived just before ran on, moving the file into DeployDir and
// calling OnInstall after Stop returned.
func TestStopWaitsForReceivedInstall(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, peer := nw.StartChannel(t)
	_, ch := nw.StartChannel(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var running atomic.Bool
	d, err := farm.New(farm.Config{Channel: ch, DeployDir: t.TempDir(), TempDir: t.TempDir(),
		OnInstall: func(farm.Deployment) error {
			running.Store(true)
			defer running.Store(false)
			once.Do(func() { close(entered) })
			<-release
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	chunk, err := farm.AppendMessage(nil, &farm.FileMessage{Number: 1, Total: 1, Data: []byte("war"), FileName: "x.war",
		ContextName: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan error, 1)
	go func() { received <- farm.Receive(d, &channel.Message{Source: peer.LocalMember(), Data: chunk}) }()
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("OnInstall was not called")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	serr := d.Stop(ctx)
	stillRunning := running.Load()
	close(release)
	<-received
	_ = d.Stop(context.Background())
	if serr == nil && stillRunning {
		t.Fatal("Stop returned nil while OnInstall of a received file still ran")
	}
}
