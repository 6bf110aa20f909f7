package delta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

type mgrState uint8

const (
	stateNew mgrState = iota
	stateTransferring
	stateRunning
	stateStopped
)

// Manager keeps the sessions of one application and replicates them to every other node
// of the cluster that runs the same application (Tomcat's DeltaManager: all-to-all
// replication of deltas). Create it with Cluster.NewManager, then Start it.
//
// All methods are safe for concurrent use.
type Manager struct {
	cl   *Cluster
	cfg  Config
	log  *slog.Logger
	st   *store
	opts channel.SendOptions

	// loadMu orders the loading of a transfer chunk (read side) against switching donors
	// and ending the transfer (write side), so that a late chunk from an abandoned donor
	// never overwrites what a later one sent. Taken before mu.
	loadMu      sync.RWMutex
	mu          sync.Mutex
	state       mgrState
	queue       []queued
	donor       channel.MemberKey
	signal      chan transferSignal // the current transfer attempt's, nil when none
	ready       chan struct{}
	readyClosed bool
	transferErr error
	bg          context.Context // cancelled by Stop
	bgCancel    context.CancelFunc
	wg          sync.WaitGroup // sweep, transfer and donor goroutines

	stats   counters
	bufPool sync.Pool

	// routes are the jvmRoutes (other than this node's) seen in the ids of sessions
	// received from the cluster, copy on write: the middleware's binder looks a cookie's
	// session up under each of them (findRerouted).
	routesMu sync.Mutex
	routes   atomic.Pointer[[]string]
}

// maxKnownRoutes bounds Manager.routes.
const maxKnownRoutes = 64

type queued struct {
	msg *Message
	src channel.Member
}

type counters struct {
	created, destroyed, expired                 atomic.Uint64
	sent, received                              [17]atomic.Uint64
	sendFailures, bytesSent                     atomic.Uint64
	queued, droppedStale, unexpected, unknownID atomic.Uint64
	transferred, served, attempts               atomic.Uint64
	transferNanos                               atomic.Int64
	valueDecodeErrors, badActions, mutations    atomic.Uint64
	unreachable                                 atomic.Uint64
}

func newManager(cl *Cluster, cfg Config) *Manager {
	m := &Manager{cl: cl, cfg: cfg, log: cfg.Logger.With("context", cfg.Name), st: newStore(),
		opts: cfg.SendOptions, ready: make(chan struct{})}
	return m
}

// Name returns the manager's context name.
func (m *Manager) Name() string { return m.cfg.Name }

// JvmRoute returns the route suffix of the node's session ids.
func (m *Manager) JvmRoute() string { return m.cfg.JvmRoute }

// Start registers the manager on its cluster and starts the expiry sweep. If other members
// exist and Config.SkipStateTransfer is false, it asks the oldest of them for every
// session in the background: Ready reports when that is over and WaitReady waits for it.
// Messages that arrive meanwhile are queued and replayed when the transfer completes.
// A manager starts once; after Stop, create a new one.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateNew {
		return fmt.Errorf("delta: manager %q already started", m.cfg.Name)
	}
	transfer := !m.cfg.SkipStateTransfer && len(m.cl.ch.Members()) > 0
	m.state = stateRunning
	if transfer {
		m.state = stateTransferring
	}
	if err := m.cl.register(m); err != nil {
		m.state = stateNew
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.bg, m.bgCancel = bg, cancel
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
// expire them too. Stop is idempotent.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	if m.state == stateStopped || m.state == stateNew {
		m.state = stateStopped
		m.closeReadyLocked(ErrStopped)
		m.mu.Unlock()
		return nil
	}
	m.state = stateStopped
	m.queue = nil
	m.bgCancel()
	m.closeReadyLocked(&StateTransferError{Context: m.cfg.Name, Err: ErrStopped})
	m.mu.Unlock()
	m.cl.unregister(m)
	m.wg.Wait()
	var errs []error
	for _, s := range m.st.clear() {
		if err := m.expire(ctx, s, m.cfg.ExpireSessionsOnShutdown, false, false); err != nil {
			errs = append(errs, err)
		}
	}
	m.log.Info("delta: session manager stopped")
	return errors.Join(errs...)
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

func (m *Manager) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state == stateRunning || m.state == stateTransferring
}

// Len returns the number of sessions held (primary and copies).
func (m *Manager) Len() int { return int(m.st.n.Load()) }

// Find returns the session with id, or nil if there is none or it has been idle past its
// timeout (twice that for a copy whose primary is elsewhere; the sweep will expire it).
// Find does not count as an access.
func (m *Manager) Find(id string) *Session {
	s := m.st.get(id)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	factor := int64(1)
	if !s.primary {
		factor = 2 // Tomcat's rule for copies: the primary may not have said it was used
	}
	if !s.valid || s.expiring || s.idleFor(nowMs(), factor) {
		return nil
	}
	return s
}

// noteRoute remembers the route of a session id received from the cluster.
func (m *Manager) noteRoute(id string) {
	r := routeOf(id)
	if r == "" || r == m.cfg.JvmRoute {
		return
	}
	if p := m.routes.Load(); p != nil && slices.Contains(*p, r) {
		return
	}
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	var cur []string
	if p := m.routes.Load(); p != nil {
		cur = *p
	}
	if slices.Contains(cur, r) || len(cur) >= maxKnownRoutes {
		return
	}
	next := append(slices.Clone(cur), r)
	m.routes.Store(&next)
}

// findRerouted finds the session of id under another route: this node's, then every
// route seen in the cluster. A jvmRoute rename (the binder's) reaches every node before
// the client gets the new cookie, and the client may never get it, if the node that
// renamed died before answering or answered with an error; the client then still sends
// the old id. Only route renames are followed: an id changed by ChangeSessionID (login)
// gets a new random part and the old id finds nothing.
func (m *Manager) findRerouted(id string) *Session {
	r := routeOf(id)
	if r == "" {
		return nil
	}
	if own := m.cfg.JvmRoute; own != "" && own != r {
		if s := m.Find(withRoute(id, own)); s != nil {
			return s
		}
	}
	if p := m.routes.Load(); p != nil {
		for _, o := range *p {
			if o != r {
				if s := m.Find(withRoute(id, o)); s != nil {
					return s
				}
			}
		}
	}
	return nil
}

// Range calls f for every session, until f returns false. Sessions created or removed
// meanwhile may or may not be seen.
func (m *Manager) Range(f func(*Session) bool) { m.st.forEach(f) }

// Create makes a new session with a fresh id, primary on this node, and tells the
// cluster (EVT_SESSION_CREATED). A failure to tell the cluster is logged, not returned:
// the session's first delta also creates it on nodes that missed the message.
func (m *Manager) Create(ctx context.Context) (*Session, error) {
	if !m.running() {
		return nil, ErrStopped
	}
	now := nowMs()
	s := &Session{m: m, created: now, accessed: now, maxInactive: m.defaultMaxInactive(),
		isNew: true, valid: true, primary: true, lastRepl: now}
	for {
		s.id = newSessionID(m.cfg.JvmRoute)
		if m.st.add(s.id, s) {
			break
		}
	}
	s.mu.Lock()
	s.record(Action{Type: ActionIsNew, Op: OpSet, Name: nameIsNew, Value: encodeBool(true)})
	s.record(Action{Type: ActionMaxInterval, Op: OpSet, Name: nameMaxInterval, Value: encodeInterval(s.maxInactive)})
	id := s.id
	s.mu.Unlock()
	m.stats.created.Add(1)
	m.fire(s, false, notice{kind: nCreated})
	if err := m.broadcast(ctx, &Message{Event: EventCreated, SessionID: id, Timestamp: now}); err != nil {
		m.log.Debug("delta: cannot tell the cluster about a new session", "err", err)
	}
	return s, nil
}

func (m *Manager) defaultMaxInactive() int32 {
	if m.cfg.MaxInactiveInterval < 0 {
		return -1
	}
	return int32(min(m.cfg.MaxInactiveInterval/time.Second, 1<<31-1))
}

// Replicate ends a request on s (Tomcat's requestCompleted): if the request changed the
// session, its delta goes to the cluster (EVT_SESSION_DELTA); otherwise an
// EVT_SESSION_ACCESSED goes out if the session was not primary here or has not been
// replicated for longer than its max inactive interval. This node becomes the session's
// primary. Replications of one session are serialised, so their messages leave in order.
//
// With acked replication the call returns once every member applied the message; if
// that fails the changes stay pending (the next Replicate sends them again, except those
// a later change from another node replaced) and the error, which wraps a
// *channel.SendError, is returned.
func (m *Manager) Replicate(ctx context.Context, s *Session) error {
	members := m.cl.ch.Members()
	// Hold the session's send slot across the send so that two requests on the same
	// session send in the order they took their deltas.
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	if !s.valid || s.expiring {
		s.mu.Unlock()
		return nil
	}
	if m.cfg.DetectMutations {
		if n := s.detectMutations(); n > 0 {
			m.stats.mutations.Add(uint64(n))
		}
	}
	now := nowMs()
	wasPrimary := s.primary
	s.primary = true
	actions := s.pending
	s.pending = nil
	var msg *Message
	switch {
	case len(members) == 0:
		// Nobody to tell: the delta is dropped, as Tomcat resets it without members.
	case len(actions) > 0:
		s.version++
		msg = &Message{Event: EventDelta, SessionID: s.id, Timestamp: now, Version: s.version, Actions: actions}
	case !wasPrimary:
		msg = &Message{Event: EventAccessed, SessionID: s.id, Timestamp: now}
	case s.maxInactive > 0 && now-s.lastRepl > int64(s.maxInactive)*1000:
		msg = &Message{Event: EventAccessed, SessionID: s.id, Timestamp: now}
	}
	if msg == nil {
		s.mu.Unlock()
		return nil
	}
	s.lastRepl = now
	s.mu.Unlock()
	err := m.replicateTo(ctx, members, msg)
	if err != nil && len(actions) > 0 {
		s.mu.Lock()
		if s.valid {
			s.restore(actions)
		}
		s.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("delta: replicating session %s (%v): %w", msg.SessionID, msg.Event, err)
	}
	return nil
}

// Invalidate destroys s here and on every other node (EVT_SESSION_EXPIRED). Session
// listeners fire; the session's pending changes go out first, as Tomcat does.
func (m *Manager) Invalidate(ctx context.Context, s *Session) error {
	return m.expire(ctx, s, true, false, false)
}

// ChangeSessionID gives s a new id, here and on every other node
// (EVT_CHANGE_SESSION_ID): use it on login against session fixation. An empty newID
// means a fresh random one with this node's route. It returns the new id.
func (m *Manager) ChangeSessionID(ctx context.Context, s *Session, newID string) (string, error) {
	generate := newID == ""
	if !generate && !validID(newID) {
		return "", fmt.Errorf("delta: invalid session id %q", newID)
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for {
		oldID := s.ID()
		if generate {
			newID = newSessionID(m.cfg.JvmRoute)
		}
		if oldID == newID {
			if !s.IsValid() {
				return "", ErrInvalidSession
			}
			return newID, nil
		}
		ok, taken := m.st.rename(oldID, newID, s, func() {
			s.mu.Lock()
			s.id = newID
			s.mu.Unlock()
		})
		switch {
		case taken && generate:
			continue
		case taken:
			return "", fmt.Errorf("%w: %s", ErrSessionIDInUse, newID)
		case !ok:
			if !s.IsValid() {
				return "", ErrInvalidSession
			}
			continue // renamed concurrently: try again from its current id
		}
		m.fire(s, false, notice{kind: nIDChanged, oldID: oldID})
		err := m.broadcast(ctx, &Message{Event: EventChangeSessionID, SessionID: oldID, NewID: newID, Timestamp: nowMs()})
		if err != nil {
			err = fmt.Errorf("delta: replicating id change %s -> %s: %w", oldID, newID, err)
		}
		return newID, err
	}
}

// expire destroys s locally; with notifyCluster it sends the pending delta and an
// EVT_SESSION_EXPIRED. timedOut and replicated describe the cause for listeners.
func (m *Manager) expire(ctx context.Context, s *Session, notifyCluster, timedOut, replicated bool) error {
	if notifyCluster {
		s.sendMu.Lock()
		defer s.sendMu.Unlock()
	}
	s.mu.Lock()
	if !s.valid || s.expiring {
		s.mu.Unlock()
		return nil
	}
	s.expiring = true
	id, pending, version := s.id, s.pending, s.version+1
	s.pending = nil
	named := slices.Clone(s.named)
	s.mu.Unlock()

	m.st.remove(id, s)
	m.stats.destroyed.Add(1)
	if timedOut {
		m.stats.expired.Add(1)
	}
	m.fire(s, replicated, notice{kind: nDestroyed, expired: timedOut, named: named})

	// Unbind the attributes (Tomcat fires attributeRemoved for each).
	s.mu.Lock()
	var removed []notice
	if len(m.cfg.AttributeListeners) > 0 {
		for i := range s.attrs {
			v, _ := s.decode(&s.attrs[i])
			removed = append(removed, notice{kind: nRemoved, name: s.attrs[i].name, value: v})
		}
	}
	s.attrs, s.notes, s.named = nil, nil, nil
	s.valid, s.expiring = false, false
	s.mu.Unlock()
	m.fire(s, replicated, removed...)

	if !notifyCluster {
		return nil
	}
	members := m.cl.ch.Members()
	if len(members) == 0 {
		return nil
	}
	now := nowMs()
	var errs []error
	if len(pending) > 0 {
		errs = append(errs, m.replicateTo(ctx, members, &Message{Event: EventDelta, SessionID: id, Timestamp: now,
			Version: version, Actions: pending}))
	}
	errs = append(errs, m.replicateTo(ctx, members, &Message{Event: EventExpired, SessionID: id, Timestamp: now}))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delta: replicating expiry of session %s: %w", id, err)
	}
	return nil
}

// broadcast sends msg to every member with the manager's options; no members is not an
// error.
func (m *Manager) broadcast(ctx context.Context, msg *Message) error {
	members := m.cl.ch.Members()
	if len(members) == 0 {
		return nil
	}
	return m.replicateTo(ctx, members, msg)
}

// replicateTo sends a session change to members with the manager's options. With
// Config.TolerateUnreachable, members that could not even be connected to do not make it
// fail.
func (m *Manager) replicateTo(ctx context.Context, members []channel.Member, msg *Message) error {
	err := m.sendTo(ctx, members, msg, m.opts)
	if err == nil || !m.cfg.TolerateUnreachable {
		return err
	}
	faulty := channel.FaultyMembers(err)
	if len(faulty) == 0 {
		return err
	}
	for _, f := range faulty {
		if !errors.Is(f.Err, channel.ErrConnect) {
			return err
		}
	}
	if m.stats.unreachable.Add(1) <= 10 {
		m.log.Warn("delta: members unreachable; replicating to the others", "unreachable", len(faulty), "err", err)
	}
	return nil
}

func (m *Manager) sendTo(ctx context.Context, to []channel.Member, msg *Message, opts channel.SendOptions) error {
	msg.Context = m.cfg.Name
	bp, _ := m.bufPool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	data, err := m.cl.codec.AppendMessage((*bp)[:0], msg)
	if err == nil {
		err = m.cl.ch.Send(ctx, to, data, opts)
	}
	n := len(data)
	if cap(data) <= 64<<10 {
		*bp = data[:0]
		m.bufPool.Put(bp)
	}
	if errors.Is(err, channel.ErrNoMembers) {
		return nil
	}
	if err != nil {
		m.stats.sendFailures.Add(1)
		return err
	}
	if int(msg.Event) < len(m.stats.sent) {
		m.stats.sent[msg.Event].Add(1)
	}
	m.stats.bytesSent.Add(uint64(n))
	return nil
}

// ---- receiving ----

// receive handles a message from another node.
func (m *Manager) receive(msg *Message, src channel.Member) {
	if msg.Event >= 0 && int(msg.Event) < len(m.stats.received) {
		m.stats.received[msg.Event].Add(1)
	}
	m.mu.Lock()
	switch m.state {
	case stateNew, stateStopped:
		m.mu.Unlock()
		return
	case stateTransferring:
		switch msg.Event {
		case EventAllSessionData:
			m.mu.Unlock()
			m.loadMu.RLock()
			defer m.loadMu.RUnlock()
			m.mu.Lock()
			current := m.state == stateTransferring && m.signal != nil && src.Key() == m.donor
			m.mu.Unlock()
			if current {
				m.loadSessions(msg.Sessions)
			} else {
				m.stats.unexpected.Add(1)
			}
			return
		case EventTransferComplete, EventNoContextManager:
			if m.signal != nil && src.Key() == m.donor {
				kind := sigComplete
				if msg.Event == EventNoContextManager {
					kind = sigDeclined
				}
				select {
				case m.signal <- transferSignal{kind: kind, ts: msg.Timestamp}:
				default:
				}
			} else {
				m.stats.unexpected.Add(1)
			}
			m.mu.Unlock()
			return
		case EventGetAllSessions:
			// Tomcat queues this and drops it after its own transfer, leaving the asker to
			// time out; answering at once lets it ask someone else (and two nodes starting
			// together do not wait for each other).
			m.mu.Unlock()
			m.cl.replyNoContext(m.cfg.Name, src, uniqueNotReady)
			return
		}
		m.queue = append(m.queue, queued{msg: msg, src: src})
		m.mu.Unlock()
		m.stats.queued.Add(1)
		return
	}
	if msg.Event == EventGetAllSessions {
		m.wg.Add(1) // under m.mu while running, so never concurrent with Stop's Wait
		m.mu.Unlock()
		go m.serveAll(m.bg, src)
		return
	}
	m.mu.Unlock()
	m.dispatch(msg)
}

// dispatch applies a session message in the running state.
func (m *Manager) dispatch(msg *Message) {
	switch msg.Event {
	case EventCreated:
		m.handleCreated(msg)
	case EventExpired:
		if s := m.st.get(msg.SessionID); s != nil {
			_ = m.expire(context.Background(), s, false, false, true)
		} else {
			m.stats.unknownID.Add(1)
		}
	case EventAccessed:
		if s := m.st.get(msg.SessionID); s != nil {
			s.mu.Lock()
			s.accessed = nowMs()
			s.primary = false
			s.isNew = false
			s.mu.Unlock()
		} else {
			m.stats.unknownID.Add(1)
		}
	case EventDelta:
		m.handleDelta(msg)
	case EventChangeSessionID:
		m.handleChangeID(msg)
	default:
		m.stats.unexpected.Add(1)
	}
}

func (m *Manager) notifyReplicated() bool { return !m.cfg.SkipListenersOnReplication }

func (m *Manager) newCopy(id string, created int64) *Session {
	return &Session{m: m, id: id, created: created, accessed: nowMs(), maxInactive: m.defaultMaxInactive(),
		isNew: true, valid: true}
}

func (m *Manager) handleCreated(msg *Message) {
	if !validID(msg.SessionID) {
		m.stats.unexpected.Add(1)
		return
	}
	m.noteRoute(msg.SessionID)
	s, added := m.st.getOrAdd(msg.SessionID, func() *Session { return m.newCopy(msg.SessionID, msg.Timestamp) })
	if added {
		m.fire(s, true, notice{kind: nCreated})
	}
}

func (m *Manager) handleDelta(msg *Message) {
	s := m.st.get(msg.SessionID)
	if s == nil {
		// The first delta of a session carries isnew=true: a node that missed (or has not
		// yet received) the EVT_SESSION_CREATED creates the session from it.
		if !validID(msg.SessionID) || !createsSession(msg.Actions) {
			m.stats.unknownID.Add(1)
			return
		}
		m.noteRoute(msg.SessionID)
		var added bool
		s, added = m.st.getOrAdd(msg.SessionID, func() *Session { return m.newCopy(msg.SessionID, msg.Timestamp) })
		if added {
			m.fire(s, true, notice{kind: nCreated})
		}
	}
	notify := m.notifyReplicated()
	s.mu.Lock()
	if !s.valid || s.expiring {
		s.mu.Unlock()
		return
	}
	ns := s.apply(msg.Actions, notify)
	if !hasAction(msg.Actions, ActionIsNew) {
		s.isNew = false // a later request: the client has joined the session
	}
	s.version = msg.Version
	s.accessed = nowMs()
	s.primary = false
	s.mu.Unlock()
	m.fire(s, true, ns...)
}

func hasAction(actions []Action, t ActionType) bool {
	for _, a := range actions {
		if a.Type == t {
			return true
		}
	}
	return false
}

func createsSession(actions []Action) bool {
	for _, a := range actions {
		if a.Type == ActionIsNew && a.Op == OpSet && len(a.Value) == 1 && a.Value[0] == 1 {
			return true
		}
	}
	return false
}

func (m *Manager) handleChangeID(msg *Message) {
	s := m.st.get(msg.SessionID)
	if s == nil {
		m.stats.unknownID.Add(1)
		return
	}
	if !validID(msg.NewID) {
		m.stats.unexpected.Add(1)
		return
	}
	m.noteRoute(msg.NewID)
	ok, _ := m.st.rename(msg.SessionID, msg.NewID, s, func() {
		s.mu.Lock()
		s.id = msg.NewID
		s.mu.Unlock()
	})
	if ok {
		m.fire(s, true, notice{kind: nIDChanged, oldID: msg.SessionID})
	}
}

func (m *Manager) memberGone(mem channel.Member) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stateTransferring && m.signal != nil && mem.Key() == m.donor {
		select {
		case m.signal <- transferSignal{kind: sigGone}:
		default:
		}
	}
}

func (m *Manager) valueDecodeFailed(name string, err error) {
	if m.stats.valueDecodeErrors.Add(1) <= 10 {
		m.log.Warn("delta: cannot decode an attribute value (is its type registered on this node?)",
			"attribute", name, "err", err)
	}
}

// fire calls the listeners for notices, outside every lock.
func (m *Manager) fire(s *Session, replicated bool, ns ...notice) {
	if replicated && !m.notifyReplicated() {
		return
	}
	for _, n := range ns {
		switch n.kind {
		case nCreated:
			for _, l := range m.cfg.SessionListeners {
				l.SessionCreated(SessionEvent{Session: s, Replicated: replicated})
			}
		case nDestroyed:
			e := SessionEvent{Session: s, Replicated: replicated, Expired: n.expired}
			for _, l := range m.cfg.SessionListeners {
				l.SessionDestroyed(e)
			}
			for _, name := range n.named {
				if l := m.cfg.NamedListeners[name]; l != nil {
					l.SessionDestroyed(e)
				}
			}
		case nIDChanged:
			for _, l := range m.cfg.SessionListeners {
				if il, ok := l.(IDListener); ok {
					il.SessionIDChanged(SessionEvent{Session: s, Replicated: replicated}, n.oldID)
				}
			}
		case nAdded, nReplaced, nRemoved:
			e := AttributeEvent{Session: s, Name: n.name, Value: n.value, Replicated: replicated}
			for _, l := range m.cfg.AttributeListeners {
				switch n.kind {
				case nAdded:
					l.AttributeAdded(e)
				case nReplaced:
					l.AttributeReplaced(e)
				default:
					l.AttributeRemoved(e)
				}
			}
		}
	}
}

// Stats are a manager's counters since it was created.
type Stats struct {
	ActiveSessions    int    // sessions held now (primary and copies)
	SessionsCreated   uint64 // created on this node
	SessionsDestroyed uint64 // removed on this node: expired, invalidated (here or by a message), stopped
	SessionsExpired   uint64 // of those, timed out on this node
	// Sent and Received count messages by event.
	Sent, Received map[Event]uint64
	SendFailures   uint64 // sends that returned an error
	// UnreachableTolerated counts replications that left out members the transport could
	// not connect to (Config.TolerateUnreachable).
	UnreachableTolerated uint64
	BytesSent            uint64 // encoded bytes of successful sends

	QueuedDuringTransfer uint64        // messages queued while the state transfer ran
	DroppedStale         uint64        // queued messages dropped as older than the transferred state
	SessionsTransferred  uint64        // sessions received by state transfers
	SessionsServed       uint64        // sessions sent to joining nodes
	TransferAttempts     uint64        // donors asked
	TransferDuration     time.Duration // how long the state transfer took

	UnknownSession    uint64 // messages about sessions this node does not have
	Unexpected        uint64 // messages that made no sense in the manager's state
	ValueDecodeErrors uint64 // attribute values this node could not decode
	BadActions        uint64 // delta actions with malformed values
	MutationsDetected uint64 // attributes replicated by DetectMutations
}

// Stats returns a snapshot of the manager's counters.
func (m *Manager) Stats() Stats {
	c := &m.stats
	s := Stats{
		ActiveSessions: m.Len(), SessionsCreated: c.created.Load(), SessionsDestroyed: c.destroyed.Load(),
		SessionsExpired: c.expired.Load(), Sent: map[Event]uint64{}, Received: map[Event]uint64{},
		SendFailures: c.sendFailures.Load(), BytesSent: c.bytesSent.Load(), UnreachableTolerated: c.unreachable.Load(),
		QueuedDuringTransfer: c.queued.Load(), DroppedStale: c.droppedStale.Load(),
		SessionsTransferred: c.transferred.Load(), SessionsServed: c.served.Load(),
		TransferAttempts: c.attempts.Load(), TransferDuration: time.Duration(c.transferNanos.Load()),
		UnknownSession: c.unknownID.Load(), Unexpected: c.unexpected.Load(),
		ValueDecodeErrors: c.valueDecodeErrors.Load(), BadActions: c.badActions.Load(),
		MutationsDetected: c.mutations.Load(),
	}
	for e := range c.sent {
		if n := c.sent[e].Load(); n > 0 {
			s.Sent[Event(e)] = n
		}
		if n := c.received[e].Load(); n > 0 {
			s.Received[Event(e)] = n
		}
	}
	return s
}
