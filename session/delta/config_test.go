package delta_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// A nil listener is refused when the manager is made, with ErrInvalidConfig: it used to
// be taken, and the first event panicked calling it (in a request, or in the sweep's
// goroutine).
func TestNewManagerRefusesNilListeners(t *testing.T) {
	var nilRec *events
	for _, tc := range []struct {
		name string
		cfg  delta.Config
	}{
		{"nil session listener", delta.Config{SessionListeners: []delta.SessionListener{&events{}, nil}}},
		{"nil pointer session listener", delta.Config{SessionListeners: []delta.SessionListener{nilRec}}},
		{"nil attribute listener", delta.Config{AttributeListeners: []delta.AttributeListener{nil}}},
		{"nil pointer attribute listener", delta.Config{AttributeListeners: []delta.AttributeListener{nilRec}}},
		{"nil named listener", delta.Config{NamedListeners: map[string]delta.SessionListener{"sso": nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ch := newChannel(t, channeltest.NewNetwork())
			cl := newCluster(t, ch, delta.ClusterConfig{})
			defer func() { _ = cl.Close(context.Background()) }()
			tc.cfg.Name = appName
			if _, err := cl.NewManager(tc.cfg); !errors.Is(err, delta.ErrInvalidConfig) {
				t.Errorf("NewManager: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// Start of a stopped manager (stopped after it ran, or before it was ever started) says
// so with ErrStopped, not "already started"; a new manager of the name starts.
func TestStartAfterStopIsErrStopped(t *testing.T) {
	ctx := context.Background()
	_, ch := newChannel(t, channeltest.NewNetwork())
	cl := newCluster(t, ch, delta.ClusterConfig{})
	defer func() { _ = cl.Close(ctx) }()
	cfg := delta.Config{Name: appName, MemberWait: -1}
	ran, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ran.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ran.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	never, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := never.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*delta.Manager{"stopped after running": ran, "stopped before starting": never} {
		if err := m.Start(ctx); !errors.Is(err, delta.ErrStopped) {
			t.Errorf("%s: Start = %v, want ErrStopped", name, err)
		}
	}
	again, err := cl.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(ctx); err != nil {
		t.Errorf("a new manager of the name: %v", err)
	}
}

// TestNewManagerWithoutNameSaysWhatToGive: NewManager without Config.Name said only
// "Config.Name is required", so a newcomer had to look up what a name is; the error now
// says it is the application's name, the same on every node, in Tomcat's host#path form
// with an example.
func TestNewManagerWithoutNameSaysWhatToGive(t *testing.T) {
	_, ch := newChannel(t, channeltest.NewNetwork())
	cl := newCluster(t, ch, delta.ClusterConfig{})
	defer func() { _ = cl.Close(context.Background()) }()
	_, err := cl.NewManager(delta.Config{JvmRoute: "node1"})
	if !errors.Is(err, delta.ErrInvalidConfig) {
		t.Fatalf("NewManager without Name: %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"Config.Name", "same on every node", `"localhost#/app"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("NewManager without Name: %q does not say %q", err, want)
		}
	}
}
