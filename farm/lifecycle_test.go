package farm_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/farm"
	"github.com/gotribes/tribes/internal/testutil"
)

// TestStopAfterTimeoutCleansUp: a Stop whose context ends while the background work is
// busy (here: a watched file's OnInstall) returns the context's error; a later Stop
// waits for the work to end and returns nil once the incomplete received files are
// closed and removed, with the temporary directory Start made. (Stop used to mark the
// deployer stopped first, so every later Stop returned nil at once and nothing cleaned
// up.)
func TestStopAfterTimeoutCleansUp(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, peer := nw.StartChannel(t)
	_, ch := nw.StartChannel(t)
	watch := t.TempDir()
	writeFile(t, watch, "shop.war", content(100, 1))
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d, err := farm.New(farm.Config{Channel: ch, DeployDir: t.TempDir(), WatchDir: watch,
		WatchInterval: 20 * time.Millisecond, OnInstall: func(farm.Deployment) error {
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
	temp := farm.TempDirOf(d)
	t.Cleanup(func() { _ = os.RemoveAll(temp) })
	chunk, err := farm.AppendMessage(nil, &farm.FileMessage{Number: 1, Total: 2, Data: []byte("half"), FileName: "x.war",
		ContextName: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := farm.Receive(d, &channel.Message{Source: peer.LocalMember(), Data: chunk}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the watched file was not deployed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a busy OnInstall: %v, want the context's error", err)
	}
	close(release)
	if err := d.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if d.Stats().Incomplete != 0 {
		t.Errorf("after Stop returned nil, %d incomplete files are still held (open)", d.Stats().Incomplete)
	}
	if _, err := os.Stat(temp); err == nil {
		left, _ := os.ReadDir(temp)
		t.Errorf("after Stop returned nil, the temporary directory %s Start made is left with %d files", filepath.Base(temp), len(left))
	}
}

// TestRestartMakesNewTempDir: a deployer without Config.TempDir makes its temporary
// directory at Start (os.MkdirTemp) and removes it at Stop; started again, it makes a
// new one. (It used to reuse the old path as if the user had configured it: MkdirAll
// accepted whatever had taken that name in the shared temporary directory meanwhile,
// here another user's symbolic link to a directory of theirs, the received files were
// assembled there, and the next Stop left the path behind.)
func TestRestartMakesNewTempDir(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, peer := nw.StartChannel(t)
	_, ch := nw.StartChannel(t)
	d, err := farm.New(farm.Config{Channel: ch, DeployDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first := farm.TempDirOf(d)
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first); err == nil {
		t.Fatalf("the temporary directory is left after the first Stop")
	}
	// Someone else takes the name meanwhile.
	theirs := t.TempDir()
	if err := os.Symlink(theirs, first); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(first) })
	if err := d.Start(ctx); err != nil {
		return // refused: fine
	}
	t.Cleanup(func() { _ = d.Stop(ctx) })
	chunk, err := farm.AppendMessage(nil, &farm.FileMessage{Number: 1, Total: 2, Data: []byte("half"), FileName: "x.war",
		ContextName: "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := farm.Receive(d, &channel.Message{Source: peer.LocalMember(), Data: chunk}); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(theirs); len(left) != 0 {
		t.Errorf("restarted, the deployer reused its old temporary path %s (now a link to another directory) and "+
			"assembles received files there: %v", filepath.Base(first), left[0].Name())
	}
	if farm.TempDirOf(d) == first {
		if err := d.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(first); err == nil {
			t.Errorf("the second Stop leaves the temporary path %s behind", filepath.Base(first))
		}
	}
}

// TestStartWaitsForUnfinishedStop: after a Stop whose context ended before the
// background work did, Start waits (within its context) for that work to end and clean
// up, then starts afresh.
func TestStartWaitsForUnfinishedStop(t *testing.T) {
	nw := channeltest.NewNetwork()
	_, ch := nw.StartChannel(t)
	watch := t.TempDir()
	writeFile(t, watch, "shop.war", content(100, 1))
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d, err := farm.New(farm.Config{Channel: ch, DeployDir: t.TempDir(), WatchDir: watch,
		WatchInterval: 20 * time.Millisecond, OnInstall: func(farm.Deployment) error {
			once.Do(func() {
				close(entered)
				<-release
			})
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := farm.TempDirOf(d)
	t.Cleanup(func() { _ = os.RemoveAll(first) })
	select {
	case <-entered:
	case <-time.After(testutil.WaitLimit):
		t.Fatal("the watched file was not deployed")
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Stop(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a busy OnInstall: %v, want the context's error", err)
	}
	short2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := d.Start(short2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start while the stopped work still runs: %v, want the context's error", err)
	}
	started := make(chan error, 1)
	go func() { started <- d.Start(context.Background()) }()
	close(release)
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testutil.WaitLimit):
		t.Fatal("Start did not return once the stopped work ended")
	}
	if _, err := os.Stat(first); err == nil {
		t.Errorf("the first run's temporary directory is left")
	}
	if err := d.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
