package delta

import (
	"context"
	"errors"
	"fmt"
)

// The manager's states: new, transferring (its state transfer runs), running, stopped.
type mgrState uint8

const (
	stateNew mgrState = iota
	stateTransferring
	stateRunning
	stateStopped
)

// Start registers the manager on its cluster and starts the expiry sweep. Unless
// Config.SkipStateTransfer, it asks the oldest other member for every session in the
// background, waiting up to Config.MemberWait for one to appear if there is none: Ready
// reports when that is over and WaitReady waits for it; Stats tells what happened.
// Messages that arrive meanwhile are queued and replayed when the transfer completes.
// A manager starts once; after Stop, create a new one: Start of a stopped manager
// returns an error wrapping ErrStopped (TestStartAfterStopIsErrStopped). Start does not
// block, and ctx bounds nothing: the manager, its state transfer included, runs until
// Stop however ctx ends, keeping only its values (TestStartContextDoesNotBoundTheManager).
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stateStopped {
		return fmt.Errorf("%w: manager %q was stopped and does not start again; create a new one", ErrStopped, m.cfg.Name)
	}
	if m.state != stateNew {
		return fmt.Errorf("delta: manager %q already started", m.cfg.Name)
	}
	transfer := !m.cfg.SkipStateTransfer && (len(m.cl.ch.Members()) > 0 || m.cfg.MemberWait > 0)
	m.state = stateRunning
	if transfer {
		m.state = stateTransferring
	} else if m.quorum > 0 && len(m.cl.ch.Members()) < m.quorum {
		m.quorumLost.Store(true) // refresh once the quorum comes: noteView
	}
	if err := m.cl.register(m); err != nil {
		m.state = stateNew
		return err
	}
	if m.quorum > 0 {
		m.cl.enableCuts() // partial partitions (cut.go)
	}
	bg, cancel := context.WithCancel(context.WithValue(context.WithoutCancel(ctx), workMark{}, m))
	m.bg, m.bgCancel, m.work = bg, cancel, context.WithoutCancel(bg)
	if !transfer {
		m.startedWithout() // a member may have come before the manager was registered
	}
	if m.cfg.ExpireInterval > 0 {
		m.wg.Add(1)
		go m.sweepLoop(bg)
	}
	if transfer {
		m.wg.Add(1)
		go m.runTransfer(bg)
	} else {
		m.closeReadyLocked(nil)
	}
	m.log.Info("delta: session manager started", "route", m.cfg.JvmRoute, "stateTransfer", transfer,
		"replication", m.cfg.Replication.String())
	return nil
}

// Stop unregisters the manager, ends its goroutines and destroys every session locally
// (session listeners fire); with Config.ExpireSessionsOnShutdown the cluster is told to
// expire them too. A creation or a message from the cluster that races with Stop leaves
// no session behind it: Create returns ErrStopped (TestCreateRacingStopLeavesNoSession).
// Stop is idempotent: a Stop called while another one runs waits until that one has
// finished, then returns nil, or returns ctx's error if ctx ends first
// (TestConcurrentStopWaitsForTheFirst). A session listener that Stop itself calls
// (SessionDestroyed with Stopping) would wait for the Stop that waits for it: a Stop
// called with the event's Context returns ErrStopping at once
// (TestStopFromItsOwnListenerReturns); one called with another context waits until that
// context ends. Stop does not wait for the cluster's goroutines applying the messages
// held for a sender just listed: one of their listeners may call it with any context
// (TestStopFromAHeldMessagesListenerReturns). It waits for the manager's own goroutines
// (the expiry sweep, the state transfer's, a refresh's and a repair's replay of the
// messages that waited): a Stop that one of their listeners calls with the event's
// Context stops the manager and returns ErrStopping at once, the stop finishing once the
// listener returned, and a later Stop waits for that (TestStopFromASweepListenerReturns,
// TestStopFromATransferReplayListenerReturns, TestStopFromARefreshReplayListenerReturns,
// TestStopFromARepairReplayListenerReturns); one called there with another context
// waits until that context ends.
//
// Every wait of Stop is bounded by ctx: when ctx ends first (a background goroutine
// stuck, the asynchronous queue's last sends or a session listener slow), Stop returns
// an error wrapping ctx.Err() and the rest of the stop goes on in the background: the
// manager takes no more work, and waiting for its goroutines, flushing the queue and
// destroying the sessions (with ctx, so that their sends to the cluster now fail at
// once) finish there (TestStopHonoursItsContext). A later Stop does not start it again:
// it waits for that background stop to finish, or for its own ctx.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	switch m.state {
	case stateStopped:
		m.mu.Unlock()
		select {
		case <-m.stopped:
			return nil
		default:
		}
		if ctx.Value(stopMark{m}) != nil || ctx.Value(workMark{}) == m {
			// From a listener of the Stop that runs, or of one of the goroutines it
			// waits for: it waits for the listener.
			return ErrStopping
		}
		select {
		case <-m.stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case stateNew:
		m.state = stateStopped
		m.closeReadyLocked(ErrStopped)
		close(m.stopped)
		m.mu.Unlock()
		m.listenersGone()
		m.cl.mu.Lock()
		m.cl.started(m.cfg.Name)
		m.cl.mu.Unlock()
		return nil
	}
	m.state = stateStopped
	m.queue = nil
	m.bgCancel()
	m.closeReadyLocked(&StateTransferError{Context: m.cfg.Name, Err: ErrStopped})
	m.mu.Unlock()
	finishing := m.cl.finishingStop(m)
	m.cl.unregister(m)
	m.listenersGone()
	finished := make(chan error, 1)
	go func() {
		defer finishing()
		finished <- m.finishStop(ctx)
	}()
	if ctx.Value(workMark{}) == m {
		// From a listener of one of m's goroutines, which finishStop waits for: the
		// stop finishes once the listener returned.
		return ErrStopping
	}
	select {
	case err := <-finished:
		return err
	case <-ctx.Done():
		select {
		case err := <-finished: // done as ctx ended
			return err
		default:
		}
		return fmt.Errorf("delta: manager %q still stopping in the background: %w", m.cfg.Name, ctx.Err())
	}
}

// listenersGone takes m's listeners off the cluster's count (Cluster.listeners): Stop
// calls it once, as m stops taking messages.
func (m *Manager) listenersGone() {
	if m.cfg.hasListeners() {
		m.cl.listeners.Add(-1)
	}
}

// finishStop is what Stop waits for once the manager no longer takes work: its
// goroutines' end, the asynchronous queue's last sends and every session's destruction;
// it then closes m.stopped. It runs on a goroutine of its own, so that a Stop whose ctx
// ends first returns (TestStopHonoursItsContext).
func (m *Manager) finishStop(ctx context.Context) error {
	defer close(m.stopped)
	m.wg.Wait()
	// The lines counted and not yet summarised, as Cluster.Close does for its own
	// (TestManagerStopSummarisesCountedLines).
	m.serveLog.Flush()
	if m.async != nil {
		// Send what waits in the queue before the sessions go, the changes that wait for
		// their session's delta in flight included: those requests were answered.
		m.async.stop()
	}
	var errs []error
	lctx := context.WithValue(ctx, stopMark{m}, true) // the listeners' (SessionEvent.Context)
	for _, s := range m.st.clear() {
		if err := m.expire(lctx, s, m.cfg.ExpireSessionsOnShutdown, causeStopped, false); err != nil {
			errs = append(errs, err)
		}
	}
	if m.async != nil {
		m.async.stop() // the expiries queued since (ExpireSessionsOnShutdown) have been sent
	}
	err := errors.Join(errs...)
	if err != nil && ctx.Err() != nil {
		m.log.Warn("delta: session manager stopped after its Stop returned", "err", err)
	} else {
		m.log.Info("delta: session manager stopped")
	}
	return err
}

// stopMark is the key of the value that marks the context Stop gives its listeners
// (SessionEvent.Context) as the manager's Stop's.
type stopMark struct{ m *Manager }

// workMark is the key of the value, the manager, that marks the context of the manager's
// goroutines that Stop waits for (m.bg), and so of their listener calls (m.work).
type workMark struct{}

// callingWorker returns the manager of c whose goroutine's listener call ctx is the
// context of, if its stop has not finished, else nil.
func (c *Cluster) callingWorker(ctx context.Context) *Manager {
	m, _ := ctx.Value(workMark{}).(*Manager)
	if m == nil || m.cl != c {
		return nil
	}
	select {
	case <-m.stopped:
		return nil
	default:
		return m
	}
}

func (m *Manager) closeReadyLocked(err error) {
	if m.readyClosed {
		return
	}
	m.readyClosed = true
	m.transferErr = err
	close(m.ready)
}

// Ready reports whether the manager has finished starting: its state transfer is over
// (completed, failed or skipped). A manager that is not started is not ready.
func (m *Manager) Ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.readyClosed && m.state != stateStopped
}

// WaitReady waits until the manager is ready or ctx ends. It returns nil after a
// complete (or skipped) state transfer, a *StateTransferError if the transfer failed
// (the manager then serves with what it received), or ctx's error.
func (m *Manager) WaitReady(ctx context.Context) error {
	select {
	case <-m.ready:
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.transferErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// starting reports whether Start was called and the manager is neither ready nor stopped.
func (m *Manager) starting() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == stateTransferring || m.state == stateRunning && !m.readyClosed
}

// lifecycleState returns the manager's state.
func (m *Manager) lifecycleState() mgrState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// notRunning is the error of a call that needs the manager running: ErrStopped, saying
// whether Start was not called yet or the manager stopped (TestCreateBeforeStartSaysSo).
func (m *Manager) notRunning() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stateNew {
		return fmt.Errorf("%w: manager %q is not started yet: call Start first", ErrStopped, m.cfg.Name)
	}
	return fmt.Errorf("%w: manager %q is stopped", ErrStopped, m.cfg.Name)
}

func (m *Manager) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == stateRunning || m.state == stateTransferring
}
