package delta

import (
	"context"
	"fmt"
	"sync"
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

// TestListenerClockCountConcurrent: managers with listeners made, started and stopped
// (twice, or without a Start) on goroutines at once leave the cluster's count of them
// (Cluster.listeners) at 0, never below: each Stop takes its own off once, whichever
// Stop runs first (pinning: passes on this code).
func TestListenerClockCountConcurrent(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	_, ch := nw.StartChannel(t)
	c := newCluster(t, ch, ClusterConfig{})
	t.Cleanup(func() { _ = c.Close(ctx) })
	listened := Config{SessionListeners: []SessionListener{&notifyOnce{f: func(SessionEvent) {}}}, MemberWait: -1}
	const n = 8
	errs := make(chan error, 3*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cfg := listened
			cfg.Name = fmt.Sprint("m", i)
			m, err := c.NewManager(cfg)
			if err != nil {
				errs <- err
				return
			}
			if i%2 == 0 { // the others stop without a Start
				errs <- m.Start(ctx)
			}
			var stops sync.WaitGroup
			for range 2 { // Stop twice, at once
				stops.Go(func() { errs <- m.Stop(ctx) })
			}
			stops.Wait()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := c.listeners.Load(); got != 0 {
		t.Errorf("%d managers with listeners counted once all stopped, want 0", got)
	}
}
