package delta

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
)

// TestListenerClockOffOnceTheirManagersStop: a cluster reads the clock per delta while a
// manager made with listeners is not stopped (TestBatchClockAfterASlowListener), and once
// per batch again when the last such manager stops, whether it ran or never started; a
// manager without listeners, or a second Stop, changes nothing. Before, the switch stayed
// on once any manager with listeners had been made.
func TestListenerClockOffOnceTheirManagersStop(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	_, ch := nw.StartChannel(t)
	c := newCluster(t, ch, ClusterConfig{})
	t.Cleanup(func() { _ = c.Close(ctx) })
	perDelta := func() bool { return c.listeners.Load() != 0 }
	listened := Config{SessionListeners: []SessionListener{&notifyOnce{f: func(SessionEvent) {}}}, MemberWait: -1}
	made := func(name string, cfg Config) *Manager {
		t.Helper()
		cfg.Name = name
		m, err := c.NewManager(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	plain := made("plain", Config{MemberWait: -1})
	if perDelta() {
		t.Fatal("a manager without listeners turned the per-delta clock on")
	}
	never := made("never", listened) // never started: stopped from its first state
	one, two := made("one", listened), made("two", listened)
	for _, m := range []*Manager{plain, one, two} {
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range []*Manager{never, one, plain, one} {
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if !perDelta() {
			t.Fatalf("stop %d: the per-delta clock is off while manager two, with listeners, runs", i)
		}
	}
	if err := two.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if perDelta() {
		t.Errorf("the per-delta clock is still on (%d) once every manager with listeners stopped", c.listeners.Load())
	}
}
