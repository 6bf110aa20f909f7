package delta_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
)

// noPanic runs f and fails the test if it panics.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", what, p)
		}
	}()
	f()
}

// A listener that panics is recovered from, as Tomcat catches what a listener throws:
// the event's other listeners still fire and what fired it completes. Without that a
// panic in the sweep's goroutine ended the process, and one during an expiry left the
// session removed here but never told to the cluster (a logout that stayed local).
func TestPanickingListenerIsRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		boom := delta.SessionListenerFuncs{
			Created:   func(delta.SessionEvent) { panic("created") },
			Destroyed: func(delta.SessionEvent) { panic("destroyed") },
		}
		attrBoom := delta.AttributeListenerFuncs{
			Added:   func(delta.AttributeEvent) { panic("added") },
			Removed: func(delta.AttributeEvent) { panic("removed") },
		}
		nw := channeltest.NewNetwork()
		cfg := delta.Config{ExpireInterval: -1, MaxInactiveInterval: time.Minute,
			SessionListeners: []delta.SessionListener{boom}, AttributeListeners: []delta.AttributeListener{attrBoom}}
		a := startReady(t, nw, cfg) // its recorder is called after the panicking listeners
		cfg.SessionListeners, cfg.AttributeListeners = nil, nil
		b := startReady(t, nw, cfg)

		var ids []string
		for range 3 {
			var s *delta.Session
			noPanic(t, "Create", func() {
				var err error
				if s, err = a.m.Create(ctx); err != nil {
					t.Fatal(err)
				}
			})
			if s == nil {
				t.FailNow()
			}
			noPanic(t, "Set", func() {
				if err := s.Set("k", "v"); err != nil {
					t.Fatal(err)
				}
			})
			if err := a.m.Replicate(ctx, s); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s.ID())
		}
		synctest.Wait()
		if got, ok := delta.Attr[string](b.m.Find(ids[0]), "k"); !ok || got != "v" {
			t.Fatalf("b's copy: k = %q, %v", got, ok)
		}
		wantEvents(t, "A", a.rec.take(), "created local", "added local k=v", "created local", "added local k=v",
			"created local", "added local k=v")

		noPanic(t, "Invalidate", func() {
			if err := a.m.Invalidate(ctx, a.m.Find(ids[0])); err != nil {
				t.Error(err)
			}
		})
		if b.m.Find(ids[0]) != nil {
			t.Error("an invalidation whose listener panicked did not reach b")
		}
		wantEvents(t, "A after Invalidate", a.rec.take(), "destroyed local expired=false", "removed local k=v")

		time.Sleep(90 * time.Second)
		n := 0
		noPanic(t, "ProcessExpires", func() { n = a.m.ProcessExpires(ctx) })
		if n != 2 || a.m.Len() != 0 || b.m.Len() != 0 {
			t.Errorf("sweep: %d expired; left: a %d, b %d (want 2, 0, 0)", n, a.m.Len(), b.m.Len())
		}
		wantEvents(t, "A after the sweep", a.rec.take(), "destroyed local expired=true", "removed local k=v",
			"destroyed local expired=true", "removed local k=v")

		create(t, b)
		synctest.Wait()
		noPanic(t, "Stop", func() {
			if err := a.m.Stop(ctx); err != nil {
				t.Error(err)
			}
		})
		if a.m.Len() != 0 {
			t.Errorf("a holds %d sessions after Stop", a.m.Len())
		}
		// Created: a's 3 and b's copy; added: 3; destroyed: 3 and the copy Stop destroyed;
		// removed: 3 (the copy has no attribute).
		if st := a.m.Stats(); st.ListenerPanics != 14 {
			t.Errorf("Stats.ListenerPanics = %d, want 14", st.ListenerPanics)
		}
	})
}
