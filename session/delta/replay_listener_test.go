package delta_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
)

// stopFromListener returns a function for a listener to call with its event's Context:
// it stops the manager *m with a Context derived from it (marked as it is) and sends
// Stop's error on the returned channel; abort ends that Stop when the test gives up.
func stopFromListener(m **delta.Manager) (stop func(context.Context), nested <-chan error, abort func()) {
	out := make(chan error, 1)
	aborted := make(chan struct{})
	stop = func(ectx context.Context) {
		sctx, cancel := context.WithCancel(ectx)
		defer cancel()
		go func() {
			select {
			case <-aborted:
				cancel()
			case <-sctx.Done():
			}
		}()
		out <- (*m).Stop(sctx)
	}
	return stop, out, func() { close(aborted) }
}

// wantStopping checks that the Stop a listener called (stopFromListener) returned
// ErrStopping within a minute, and that a later Stop returns nil once the stop finished.
func wantStopping(t *testing.T, m *delta.Manager, nested <-chan error, abort func(), what string) {
	t.Helper()
	select {
	case err := <-nested:
		if !errors.Is(err, delta.ErrStopping) {
			t.Errorf("Stop from the %s's listener: %v, want ErrStopping", what, err)
		}
	case <-time.After(time.Minute):
		abort()
		t.Fatalf("Stop from the %s's listener still waits a minute later", what)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Stop(ctx); err != nil {
		t.Errorf("a later Stop: %v, want nil", err)
	}
}

// TestStopFromARepairReplayListenerReturns: a running manager holds a delta about a
// session it holds only under another route and more than one change behind (a repair,
// repair.go); a delta of that copy arriving meanwhile brings it to one change behind, so
// the repair's goroutine, before asking anybody, applies the held delta itself
// (nextRound). Its AttributeReplaced listener stopping the manager with the event's
// Context gets ErrStopping at once, as from the other goroutines of the manager (the
// event's Context is marked as the repair's), not a wait for that goroutine, itself.
func TestStopFromARepairReplayListenerReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := channeltest.NewNetwork()
		renamer, askedRenamer := newAsker(t, nw)
		var j *delta.Manager
		stop, nested, abort := stopFromListener(&j)
		l := delta.AttributeListenerFuncs{Replaced: func(e delta.AttributeEvent) {
			if e.Value == "v2" { // the value it replaced: the held delta's, applied by the repair's goroutine
				stop(e.Context)
			}
		}}
		jn := startNode(t, nw, delta.Config{JvmRoute: "j", AttributeListeners: []delta.AttributeListener{l}})
		j = jn.m
		jm := waitFor(t, askedRenamer)
		T := time.Now().UnixMilli()
		chunk := repairMsg(delta.EventAllSessionData, "SESSION-STATE", T)
		chunk.Sessions = []delta.SessionState{repairState(T, "S.d", 1, "v1")}
		renamer.send(t, jm, chunk)
		renamer.send(t, jm, repairMsg(delta.EventTransferComplete, "SESSION-STATE-TRANSFERRED", T))
		if err := j.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()

		renamer.send(t, jm, repairSet(repairMsg(delta.EventDelta, "S.r", T+20), 3, "v3")) // held: S.d is at 1
		if delta.RepairIdle(j) {
			t.Fatal("the delta two changes ahead of the copy under another route was not held for a repair")
		}
		renamer.send(t, jm, repairSet(repairMsg(delta.EventDelta, "S.d", T+10), 2, "v2")) // applied: S.d at 2
		wantStopping(t, j, nested, abort, "repair replay")
		if n := j.Stats().TransferRepairs; n != 0 {
			t.Errorf("%d repairs asked a member, want none (the held delta applied first)", n)
		}
	})
}

// TestStopFromARefreshReplayListenerReturns: a delta that arrives while a node refreshes
// its copies (its quorum back, refresh.go) waits, and the refresh's goroutine applies it
// after the refresh (replayRefreshed). Its AttributeReplaced listener stopping the manager
// with the event's Context gets ErrStopping at once (the event's Context is marked as the
// refresh's), not a wait for that goroutine, itself.
func TestStopFromARefreshReplayListenerReturns(t *testing.T) {
	nw := channeltest.NewNetwork()
	peer, asked := newCounter(t, nw)
	var jm *delta.Manager
	stop, nested, abort := stopFromListener(&jm)
	l := delta.AttributeListenerFuncs{Replaced: func(e delta.AttributeEvent) {
		if e.Value == "v2" { // the value it replaced: the waiting delta's, applied by the refresh's goroutine
			stop(e.Context)
		}
	}}
	j, T := healedAfterTransferWith(t, nw, peer, asked.Load, delta.Config{AttributeListeners: []delta.AttributeListener{l}})
	jm = j.m
	testutil.EventuallyTrue(t, 10*time.Second, "the refresh's request", func() bool { return asked.Load() == 2 })
	peer.send(t, j.ch.LocalMember(), repairSet(repairMsg(delta.EventDelta, "S.p", T+2), 3, "v3"))
	if got := valueK(j.m, "S.p"); got != "v1" {
		t.Fatalf("during the refresh k = %v, want v1 (the delta waits)", got)
	}
	transferFrom(t, peer, j, T+1, repairState(T, "S.p", 2, "v2"))
	wantStopping(t, j.m, nested, abort, "refresh replay")
	if n := j.m.Stats().QuorumRefreshes; n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
}
