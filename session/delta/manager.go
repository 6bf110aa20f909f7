package delta

import (
	"context"
	"iter"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ratelog"
	"github.com/gotribes/tribes/internal/sessionhttp"
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
	// serveLog logs the transfers and catch-ups served, rate-limited per member
	// (serveAll), and the quorum's losses and refreshes (Manager.quorumPeer).
	serveLog *ratelog.Limiter
	// quorum is how many members must acknowledge a change besides this node
	// (Config.ClusterSize/2; 0 without a quorum).
	quorum int
	// gone records the ids removed or renamed lately: for message application, refreshes
	// and state transfers (removals.go).
	gone *removals
	// recent logs the sessions sent about lately, for a joiner's catch-up (recent.go)
	recent recentSent
	// taken logs the sessions another node's change was taken of lately, for the answer
	// to a member back in view (recent.go)
	taken recentSent
	// shipped counts, during a transfer, the sessions it carried a donor's refused change
	// of (transfer_unsent.go)
	shipped atomic.Int64
	// toldRefused is what the donor of a transfer said of those in its
	// EVT_ALL_SESSION_TRANSFERCOMPLETE: 1 + their number, 0 if it did not say
	// (transfer_unsent.go)
	toldRefused atomic.Uint64
	// late is a joiner's late catch-up while its window lasts (catchup_late.go)
	late atomic.Pointer[lateCatchUp]
	// back records the members that left the view, and asks those that come back
	// (catchup_back.go)
	back backCatchUp
	// askFails counts a joiner's failed catch-up requests per member, for its logs
	askFails askFailures
	// yield has a late catch-up's request give way to a refresh or a repair
	yield lateYield
	// quorumLost: the view fell below the quorum, and no refresh started since;
	// refreshOn mirrors refreshing; refreshPending: a refresh goroutine runs
	// (refresh.go); quorumCause: the peer its lines are rate-limited under (quorumPeer).
	quorumLost, refreshOn, refreshPending atomic.Bool
	quorumCause                           atomic.Pointer[string]
	// attemptMu makes the requests for every session of a running manager (a repair's
	// round, a refresh) one at a time: they share the attempt (donor, signal).
	attemptMu sync.Mutex

	// loadMu orders the loading of a transfer chunk (read side) against switching donors
	// and ending the transfer (write side), so that a late chunk from an abandoned donor
	// never overwrites what a later one sent. Taken before mu.
	loadMu      sync.RWMutex
	mu          sync.Mutex
	state       mgrState
	queue       []queued
	donor       channel.MemberKey
	doneFrom    string              // address of the donor whose transfer completed
	signal      chan transferSignal // the current transfer attempt's, nil when none
	fillIn      map[string]bool     // the sessions a repair attempt loads (nil: all)
	merging     bool                // the attempt is a joiner's catch-up: its chunks are merged (catchup.go)
	asking      string              // the id of the attempt's request, which its answer echoes (AskEcho), or ""
	heard       atomic.Int64        // when a message of the current attempt's donor last arrived (Unix ns)
	ready       chan struct{}
	stopped     chan struct{} // closed when the first Stop has finished
	joined      chan struct{} // a member was added (for Config.MemberWait)
	readyClosed bool
	// refreshing: the manager refreshes its copies after getting the quorum back
	// (refresh.go); the messages that arrive meanwhile wait in refreshQueue, unless it
	// overflowed (maxRefreshQueue) since the members were asked.
	refreshing    bool
	refreshQueue  []queued
	queueOverflow bool
	transferErr   error
	bg            context.Context // cancelled by Stop; marked as its goroutines' (workMark)
	bgCancel      context.CancelFunc
	wg            sync.WaitGroup // sweep, transfer and donor goroutines

	// work is the Context of the listener calls of the goroutines Stop waits for (the
	// sweep, the transfer's, a refresh's and a repair's replays): bg's values, marked,
	// never cancelled.
	work context.Context

	// unsent holds the ids of sessions removed here whose EVT_SESSION_EXPIRED did not
	// reach every member (expire.go): the sweep sends it again.
	unsentMu sync.Mutex
	unsent   map[string]struct{}

	// kept holds the sessions whose changes a refresh or a repair kept, to be sent again
	// (resend_kept.go); keptMu is taken after a session's mu.
	keptMu sync.Mutex
	kept   map[*Session]struct{}

	stats   counters
	bufPool sync.Pool
	batch   *batcher    // acked replication with a codec that can batch, else nil
	async   *asyncQueue // asynchronous replication with a codec that can batch, else nil

	// serving holds the members a state transfer is being served to or waits for a slot
	// for (under mu); slots bounds the transfers served at once.
	serving map[channel.MemberKey]*serve
	slots   chan struct{}
	// catchingUp holds the members a catch-up answer is being served to or waits for
	// one of catchUpSlots for (under mu), which bound those served at once (receive.go).
	catchingUp   map[channel.MemberKey]struct{}
	catchUpSlots chan struct{}

	// routes are the jvmRoutes (other than this node's) seen in the ids of sessions
	// received from the cluster, copy on write: the middleware's binder looks a cookie's
	// session up under each of them (findRerouted).
	routesMu sync.Mutex
	routes   atomic.Pointer[[]string]

	// live is the repair a running manager has under way (repair.go), under liveMu;
	// liveOn says whether there is one. skipped holds the ids not to ask for again.
	liveMu  sync.Mutex
	live    *liveRepair
	liveOn  atomic.Bool
	skipMu  sync.Mutex
	skipped map[string]bool
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
	noManager, declined                         atomic.Uint64
	transferNanos, memberWaitNanos              atomic.Int64
	valueDecodeErrors, badActions, mutations    atomic.Uint64
	unreachable                                 atomic.Uint64
	transfersActive, transfersWaiting           atomic.Int64
	transfersRefused, rerouted, askedAgain      atomic.Uint64
	repairs                                     atomic.Uint64
	refreshes, refreshed, refreshRemoved        atomic.Uint64
	catchUps, catchUpScans                      atomic.Uint64
	staleRefused, refreshOverflows              atomic.Uint64
	batchWaits, batchWaitsRanOut                atomic.Uint64
	olderChanges                                atomic.Uint64
	listenerPanics                              atomic.Uint64
	transferSessionsRefused, droppedPastLimits  atomic.Uint64
}

func newManager(cl *Cluster, cfg Config) *Manager {
	m := &Manager{cl: cl, cfg: cfg, log: cfg.Logger.With("context", cfg.Name), st: newStore(),
		opts: cfg.SendOptions, quorum: cfg.ClusterSize / 2, ready: make(chan struct{}), stopped: make(chan struct{}), joined: make(chan struct{}, 1), serving: map[channel.MemberKey]*serve{},
		slots: make(chan struct{}, cfg.MaxConcurrentTransfers), catchingUp: map[channel.MemberKey]struct{}{},
		catchUpSlots: make(chan struct{}, cfg.MaxConcurrentTransfers)}
	m.gone = newRemovals()
	m.serveLog = ratelog.New(ratelog.Config{Logger: m.log})
	if bc, ok := cl.codec.(batchCodec); ok {
		if m.opts.WaitsForAck() {
			m.batch = &batcher{m: m, bc: bc, wait: cfg.AckedBatchWait}
		} else {
			m.async = &asyncQueue{m: m, bc: bc, interval: max(cfg.AsyncBatchInterval, 0), quit: make(chan struct{})}
			m.async.idle.L, m.async.work.L = &m.async.mu, &m.async.mu
		}
	}
	return m
}

// defaultMaxInactive is Config.MaxInactiveInterval in seconds, -1 for never.
func (m *Manager) defaultMaxInactive() int32 {
	if m.cfg.MaxInactiveInterval < 0 {
		return -1
	}
	return int32(min(m.cfg.MaxInactiveInterval/time.Second, 1<<31-1))
}

// Name returns the manager's context name.
func (m *Manager) Name() string { return m.cfg.Name }

// JvmRoute returns the route suffix of the node's session ids.
func (m *Manager) JvmRoute() string { return m.cfg.JvmRoute }

// Len returns the number of sessions held (primary and copies).
func (m *Manager) Len() int { return int(m.st.n.Load()) }

// Find returns the session with id, or nil if there is none or it has been idle past its
// timeout (twice that for a copy whose primary is elsewhere; the sweep will expire it).
// Find does not count as an access.
func (m *Manager) Find(id string) *Session { return m.findAt(id, nowMs()) }

// findAt is Find at unix ms now.
func (m *Manager) findAt(id string, now int64) *Session {
	if s := m.st.get(id); s != nil && s.findable(now) {
		return s
	}
	return nil
}

// noteRoute remembers the route of a session id received from the cluster.
func (m *Manager) noteRoute(id string) {
	r := sessionhttp.RouteOf(id)
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

// rerouted records a session the middleware's binder renamed from route from to this
// node's; the first one is logged with a hint.
func (m *Manager) rerouted(from string) {
	if m.stats.rerouted.Add(1) == 1 {
		m.log.Info("delta: renamed a session to this node's jvmRoute because its request came with another node's "+
			"route: a failover, or a balancer without jvmRoute stickiness (then every move renames it; "+
			"HTTPConfig.DisableJvmRouteBinder keeps ids as they are); further renames are only counted in "+
			"Stats.SessionsRerouted", "fromRoute", from, "route", m.cfg.JvmRoute)
	}
}

// findRerouted finds the session of id under another route: this node's, then every
// route seen in the cluster. A jvmRoute rename (the binder's) reaches every node before
// the client gets the new cookie, and the client may never get it, if the node that
// renamed died before answering or answered with an error; the client then still sends
// the old id. Only route renames are followed: an id changed by ChangeSessionID (login)
// gets a new random part and the old id finds nothing.
func (m *Manager) findRerouted(id string) *Session {
	s, _ := m.lookup(id, m.Find)
	return s
}

// replicaOf returns the session a message from the cluster names by id: the one held
// under id or, failing that, under id with another route. A rename can reach only some
// members (its sender died while sending it to each in turn, or could not reach one):
// members then hold the session under different routes, and each goes on replicating
// under its own id. Applying such messages to the copy held under the other route keeps
// every acknowledged change, and the next rename (any member's binder) brings the ids
// together again.
func (m *Manager) replicaOf(id string) *Session {
	s, _ := m.lookup(id, m.st.get)
	return s
}

// maxLookups bounds the tries of lookup while renames complete.
const maxLookups = 4

// lookup returns the session get finds under id or, failing that, under id with another
// route (underOtherRoute); exact reports the former. Each id is read under its own shard's
// lock, so a rename to id that completes between two reads would hide the session: not yet
// under id when that was read, no longer under its old id when that was. A rename and the
// next delta of a session often arrive together on two connections, and such a delta
// was dropped as about an unknown session. So a miss is tried again when renames
// completed meanwhile (store.renames, counted before a rename releases its locks: a read
// that saw a session gone from its old id sees the count changed).
func (m *Manager) lookup(id string, get func(string) *Session) (s *Session, exact bool) {
	for range maxLookups {
		n := m.st.renames.Load()
		if s := get(id); s != nil {
			return s, true
		}
		if s := m.underOtherRoute(id, get); s != nil {
			return s, false
		}
		if m.st.renames.Load() == n {
			break
		}
	}
	return nil, false
}

// underOtherRoute returns the first session get finds under one of id's otherRouteIDs.
func (m *Manager) underOtherRoute(id string, get func(string) *Session) *Session {
	for o := range m.otherRouteIDs(id) {
		if s := get(o); s != nil {
			return s
		}
	}
	return nil
}

// otherRouteIDs yields id with its route replaced: by this node's, then by every route
// seen in the cluster. An id without a route yields nothing.
func (m *Manager) otherRouteIDs(id string) iter.Seq[string] {
	return func(yield func(string) bool) {
		r := sessionhttp.RouteOf(id)
		if r == "" {
			return
		}
		if own := m.cfg.JvmRoute; own != "" && own != r && !yield(sessionhttp.WithRoute(id, own)) {
			return
		}
		if p := m.routes.Load(); p != nil {
			for _, o := range *p {
				if o != r && !yield(sessionhttp.WithRoute(id, o)) {
					return
				}
			}
		}
	}
}

// Range calls f for every session, until f returns false. Sessions created or removed
// meanwhile may or may not be seen; a session renamed meanwhile is seen once. A nil f
// does nothing.
func (m *Manager) Range(f func(*Session) bool) {
	if f != nil {
		m.st.forEach(f)
	}
}

func (m *Manager) valueDecodeFailed(name string, err error) {
	if m.stats.valueDecodeErrors.Add(1) <= 10 {
		m.log.Warn("delta: cannot decode an attribute value (is its type registered on this node?)",
			"attribute", name, "err", err)
	}
}

// fire calls the listeners for notices, outside every lock, with ctx as the events'
// Context (context.Background(), or one marked as the caller's: a Stop's, a drain's). A listener that panics is
// recovered from and logged (listenerPanicked), as Tomcat catches and logs what a
// listener throws: the other listeners still hear of the event, and what fired it
// completes (a session the sweep or Stop expires is still removed and the cluster
// told).
func (m *Manager) fire(ctx context.Context, s *Session, replicated bool, ns ...notice) {
	if len(ns) == 0 {
		return
	}
	if d, _ := ctx.Value(deferMark{}).(*deferred); d != nil && d.put(deferredCall{ctx, s, replicated, slices.Clone(ns)}) {
		return // made once the caller released m.loadMu (loadfire.go)
	}
	notify := !replicated || m.notifyReplicated()
	for _, n := range ns {
		if !notify && n.kind != nIDChanged {
			continue
		}
		switch n.kind {
		case nCreated:
			for _, l := range m.cfg.SessionListeners {
				m.callSession(l, false, SessionEvent{Session: s, Replicated: replicated, Context: ctx})
			}
		case nDestroyed:
			e := SessionEvent{Session: s, Replicated: replicated, Expired: n.expired, Stopping: n.stopping, Context: ctx}
			for _, l := range m.cfg.SessionListeners {
				m.callSession(l, true, e)
			}
			for _, name := range n.named {
				m.callNamed(name, e, "")
			}
		case nIDChanged:
			e := SessionEvent{Session: s, Replicated: replicated, Context: ctx}
			if notify {
				for _, l := range m.cfg.SessionListeners {
					if il, ok := l.(IDListener); ok {
						m.callID(il, e, n.oldID)
					}
				}
			}
			// The session's own listeners, as Tomcat's SESSION_CHANGED_ID_EVENT: always.
			for _, name := range s.listenerNames() {
				m.callNamed(name, e, n.oldID)
			}
		case nAdded, nReplaced, nRemoved:
			e := AttributeEvent{Session: s, Name: n.name, Value: n.value, Replicated: replicated, Context: ctx}
			for _, l := range m.cfg.AttributeListeners {
				m.callAttribute(l, n.kind, e)
			}
		}
	}
}

// callSession calls l's SessionDestroyed, or SessionCreated, recovering from a panic.
func (m *Manager) callSession(l SessionListener, destroyed bool, e SessionEvent) {
	defer m.listenerPanicked()
	if destroyed {
		l.SessionDestroyed(e)
	} else {
		l.SessionCreated(e)
	}
}

// callID calls l's SessionIDChanged, recovering from a panic.
func (m *Manager) callID(l IDListener, e SessionEvent, oldID string) {
	defer m.listenerPanicked()
	l.SessionIDChanged(e, oldID)
}

// callNamed calls the named listener of name, if there is one: its SessionDestroyed when
// oldID is empty, else its SessionIDChanged if it is an IDListener. A panic, of the
// listener or of Config.NamedListener, is recovered from.
func (m *Manager) callNamed(name string, e SessionEvent, oldID string) {
	defer m.listenerPanicked()
	l := m.namedListener(name)
	if l == nil {
		return
	}
	if oldID == "" {
		l.SessionDestroyed(e)
	} else if il, ok := l.(IDListener); ok {
		il.SessionIDChanged(e, oldID)
	}
}

// callAttribute calls l for an attribute notice of kind, recovering from a panic.
func (m *Manager) callAttribute(l AttributeListener, kind noticeKind, e AttributeEvent) {
	defer m.listenerPanicked()
	switch kind {
	case nAdded:
		l.AttributeAdded(e)
	case nReplaced:
		l.AttributeReplaced(e)
	default:
		l.AttributeRemoved(e)
	}
}

// listenerPanicked, deferred around a listener call, recovers from its panic and logs it
// (rate-limited) with the stack.
func (m *Manager) listenerPanicked() {
	if p := recover(); p != nil {
		m.stats.listenerPanics.Add(1)
		m.cl.refusals.Log(slog.LevelError, m.cfg.Name, "listener panic",
			"delta: a session listener panicked; the event's other listeners and the operation went on",
			"panic", p, "stack", string(debug.Stack()))
	}
}

// namedListener returns the listener configured for name (Config.NamedListeners, then
// Config.NamedListener), nil if none.
func (m *Manager) namedListener(name string) SessionListener {
	if l := m.cfg.NamedListeners[name]; l != nil {
		return l
	}
	if m.cfg.NamedListener != nil {
		return m.cfg.NamedListener(name)
	}
	return nil
}
