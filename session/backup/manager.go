package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ctxwait"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/replmap"
)

// replicateWaitHook, if set (by tests), runs when a Replicate waits for another one of
// the same session.
var replicateWaitHook func()

// expireHook, if set (by tests), runs when the sweep found session id expired (and
// ended it), before it removes it.
var expireHook func(id any)

// mapStartedHook, if set (by tests), runs in Start once the map started, before the
// sweep starts.
var mapStartedHook func()

// DefaultExpireInterval is how often a Manager looks for expired sessions (Tomcat's
// processExpiresFrequency 6 × backgroundProcessorDelay 10 s).
const DefaultExpireInterval = 60 * time.Second

// Config configures a Manager.
type Config struct {
	// Channel carries the map (required; started before Manager.Start).
	Channel *channel.Channel
	// Name is the manager's name, the cluster's name of the context (required, e.g.
	// "localhost#/app"): the sessions are in the map MapName(Name).
	Name string
	// JvmRoute is appended to new session ids after a dot (the Engine's jvmRoute), for
	// a load balancer's sticky sessions; empty: none. Letters, digits, '-' and '_'.
	JvmRoute string
	// DisableJvmRouteBinder turns off the jvmRoute binding (Tomcat's
	// JvmRouteBinderValve, which is on here whenever JvmRoute is set): by default a
	// request whose session id ends in another node's route (the load balancer failed
	// over to this node) gets its session renamed to this node's route on every node,
	// and a new cookie, so that the balancer keeps the session here.
	DisableJvmRouteBinder bool
	// CookiePath is the session cookie's path: the application's context path, as
	// Tomcat sets it (e.g. "/app"), so that the cookie reaches Tomcat and Go nodes
	// alike. Default "/".
	CookiePath string
	// MaxInactive is the max inactive interval of new sessions (session-timeout,
	// DefaultMaxInactive), at least a second (it travels in seconds); negative: they never
	// expire. 0 means the default, unlike Tomcat's session-timeout 0: set -1 for never.
	MaxInactive time.Duration
	// ExpireInterval is how often expired sessions are removed (DefaultExpireInterval).
	ExpireInterval time.Duration
	// Limits bound the sessions received from other nodes.
	Limits Limits
	// Map, if set, adjusts the map's configuration (MapConfig's) before the map is made:
	// its limits, its logger. Channel, Name, Values and MadePrimary are the Manager's.
	Map func(*replmap.Config)
	// NamedListener, if set, gives the listener of a name attached to a session
	// (Session.AttachListener, or a Tomcat node's ClusterSingleSignOnListener under its
	// single sign-on id); nil for a name it does not know. The listeners of a session
	// this node renames (ChangeSessionID), invalidates (Invalidate) or expires (the
	// sweep, or Find of an expired session) are told
	// (SessionListener): sso.SSO's BackupListeners keeps the user's single sign-on entry
	// in step with the sessions. A panic of NamedListener, as of a listener, is recovered
	// from and logged.
	NamedListener func(name string) SessionListener
	// Logger receives the manager's logs; nil discards them.
	Logger *slog.Logger
}

// Manager is Tomcat's BackupManager for a Go node: it keeps the sessions of one
// application in the map BackupManager uses, so that Go and Tomcat nodes of a cluster
// serve each other's sessions. Wrap puts it in front of an http.Handler.
type Manager struct {
	cfg Config
	m   *replmap.Map
	log *slog.Logger

	mu   sync.Mutex
	stop chan struct{}
	done chan struct{}
	// telling is set while the sweep of done is inside a SessionListener call: Stop does
	// not wait for it then (the listener may be its caller).
	telling *atomic.Bool

	renameMu sync.Mutex // one ChangeSessionID at a time

	routeMu   sync.Mutex
	routesAt  time.Time // when routeList was read from the map's keys
	routeList []string

	expiredN atomic.Uint64
	droppedN atomic.Uint64 // Stats.ChangesDroppedPastLimits
	fullOutN atomic.Uint64 // Stats.FullCopyValuesLeftOut
	report   diffReport    // Stats.DiffListenersLeftOut
	// stopping is set when Stop starts: a Replicate that ends after that reports an error.
	stopping atomic.Bool
}

// Stats are a Manager's counters.
type Stats struct {
	// Expired counts the sessions this node expired and removed from the map, every
	// member acknowledging the removal (Tomcat's expiredSessions counts those of its
	// node too).
	Expired uint64
	// ChangesDroppedPastLimits counts the changes (attribute or principal values) a
	// session's diff left out because they went beyond Limits.Java together with its
	// other changes (Replicate returns an error wrapping delta.ErrMessageLimit naming
	// them): kept pending, they would have made every later diff of the session fail
	// (TestDiffPastLimitsTogetherLeavesOut). A full copy carrying them takes them off
	// the report once a Replicate sent; a Replicate that failed reports and counts them
	// (TestFullCopyWhoseSendFailsKeepsTheDiffReport).
	ChangesDroppedPastLimits uint64
	// FullCopyValuesLeftOut counts the values (attributes, notes, principals) left out of
	// sessions' full copies because they go beyond Limits.Java alone, which a session
	// received in full may hold, or together with the values before them, whose Go forms
	// or count a backup with the same limits would refuse (TestFullCopyPastLimitsTogether,
	// TestFullCopyPastMaxEntries), and the listeners past Limits.Java.MaxEntries
	// (TestFullCopyPastMaxEntriesOfListeners), and the attributes, notes and listeners
	// past the limits the backup's map reads the session's stream with together
	// (TestFullCopyPastTheMapsMaxHandles); the other values went. They are counted as the full
	// copy is made (the map's Codec.Encode: a Put, by Create or ChangeSessionID too, a
	// Replicate sending the session in full, the map's republish when a member leaves, a
	// reply to a node taking the session over), whether a Replicate follows or not; the
	// next Replicate of the session returns an error wrapping delta.ErrMessageLimit naming
	// those of the last full copy. A value the session's previous full copy left out too,
	// not reported yet, is not counted again (the map encodes a Put's value twice), and a
	// full copy that fails keeps that report for the next Replicate
	// (TestFullCopyLeavesOutAValuePastLimits,
	// TestFullCopyValuesLeftOutCountedWhereTheyHappen,
	// TestFailedFullCopyKeepsTheReportOfTheLastOne).
	FullCopyValuesLeftOut uint64
	// DiffListenersLeftOut counts the listeners that diffs received for the sessions this
	// node holds attached past Limits.Java.MaxEntries, which ApplyDiff leaves out, the rest
	// of each diff applied (logged as a warning the first time for a session): a Tomcat
	// primary's session may hold more (TestApplyDiffListenersBoundedByMaxEntries). A Go
	// primary leaves them out of its diff instead, and its Replicate reports them
	// (TestDiffLeavesOutListenersPastMaxEntries).
	DiffListenersLeftOut uint64
}

// Stats returns the manager's counters.
func (m *Manager) Stats() Stats {
	return Stats{Expired: m.expiredN.Load(), ChangesDroppedPastLimits: m.droppedN.Load(),
		FullCopyValuesLeftOut: m.fullOutN.Load(), DiffListenersLeftOut: m.report.listenersOut.Load()}
}

// NewManager returns a manager configured by cfg, not started. Its map answers the
// other nodes from now on (replmap.New).
func NewManager(cfg Config) (*Manager, error) {
	switch {
	case cfg.Channel == nil:
		return nil, fmt.Errorf("%w: backup.Config.Channel is required", channel.ErrInvalidConfig)
	case cfg.Name == "":
		return nil, fmt.Errorf("%w: backup.Config.Name is required", channel.ErrInvalidConfig)
	case cfg.ExpireInterval < 0:
		return nil, fmt.Errorf("%w: negative backup.Config.ExpireInterval", channel.ErrInvalidConfig)
	case cfg.MaxInactive > 0 && cfg.MaxInactive < time.Second:
		return nil, fmt.Errorf("%w: backup.Config.MaxInactive below one second", channel.ErrInvalidConfig)
	case cfg.JvmRoute != "" && (!sessionhttp.ValidID(cfg.JvmRoute) || strings.Contains(cfg.JvmRoute, ".")):
		// The middleware reads only cookies that are valid session ids.
		return nil, fmt.Errorf("%w: backup.Config.JvmRoute %q (letters, digits, '-' and '_')", channel.ErrInvalidConfig,
			cfg.JvmRoute)
	}
	if cfg.MaxInactive == 0 {
		cfg.MaxInactive = DefaultMaxInactive
	}
	if cfg.CookiePath == "" {
		cfg.CookiePath = "/"
	}
	if cfg.ExpireInterval == 0 {
		cfg.ExpireInterval = DefaultExpireInterval
	}
	cfg.Limits = cfg.Limits.withDefaults()
	mc := MapConfig(cfg.Channel, cfg.Name, cfg.Limits)
	mc.Logger = cfg.Logger
	if cfg.Map != nil {
		cfg.Map(&mc)
	}
	mgr := &Manager{cfg: cfg}
	mc.Channel, mc.Name, mc.MadePrimary = cfg.Channel, MapName(cfg.Name), madePrimary
	mc.Values = Codec{Limits: cfg.Limits, MapLimits: mc.Limits, fullOut: &mgr.fullOutN, report: &mgr.report}
	m, err := replmap.New(mc)
	if err != nil {
		return nil, err
	}
	mgr.m, mgr.log = m, cfg.Logger
	if mgr.log == nil {
		mgr.log = slog.New(slog.DiscardHandler)
	}
	mgr.report.log, mgr.report.manager = mgr.log, cfg.Name
	return mgr, nil
}

// madePrimary is BackupManager.objectMadePrimary: the session was used now and is
// served here (Session.takenOver).
func madePrimary(_ context.Context, _, value any) {
	if s, ok := value.(*Session); ok {
		s.takenOver(time.Now())
	}
}

// Map returns the manager's map.
func (m *Manager) Map() *replmap.Map { return m.m }

// Start joins the map to the other nodes' (replmap.Map.Start) and starts the expiry
// sweep. A Stop that begins while Start joins the map stops it: Start then starts no
// sweep and returns an error wrapping replmap.ErrNotStarted
// (TestStopDuringStartLeavesNoSweep). A Manager starts once: a later Start returns the
// map's error, wrapping replmap.ErrStarted, and starts no sweep, also beside one that a
// Stop did not wait for (TestStartAfterStopFromBesideASweepListener).
func (m *Manager) Start(ctx context.Context) error {
	if err := m.m.Start(ctx); err != nil {
		return err
	}
	if mapStartedHook != nil {
		mapStartedHook()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	// Stop sets stopping before it looks for a sweep under mu: either it finds this one,
	// or this Start sees that it began.
	if m.stopping.Load() {
		return fmt.Errorf("backup: start of manager %q: stopped meanwhile: %w", m.cfg.Name, replmap.ErrNotStarted)
	}
	m.stop, m.done, m.telling = make(chan struct{}), make(chan struct{}), new(atomic.Bool)
	go m.sweep(m.stop, m.done, m.telling)
	return nil
}

// Stop stops the sweep and the map (MSG_STOP: the other nodes take over the sessions
// this node is the primary of). Its error is replmap.Map.Stop's: a node whose manager
// stopped before, or that runs none, is no failure, so a clean shutdown of every node
// returns nil (TestSecondStopOfACleanShutdown).
//
// Stop waits for an expiry sweep under way only until ctx ends: it then stops the map all
// the same (the sweep's removals of a stopped map fail) and returns an error wrapping
// ctx.Err(), the sweep left to end in the background (TestStopHonoursItsContext). A
// later Stop waits for that sweep again, or for its own ctx
// (TestLaterStopWaitsForTheSweep). Stop does not wait for a sweep that is inside a
// SessionListener call, as the channel's Stop does not wait for a heartbeat under way:
// the listener may be the caller (it gets no context that could mark its call), and it
// would wait for itself. Such a Stop, from the listener or from elsewhere, stops the map
// and returns at once, whatever its ctx; the sweep removes no more sessions and ends
// once the listener has returned, and a later Stop waits for it
// (TestStopFromASweepListenerReturns); a later Start starts no other sweep (Start).
func (m *Manager) Stop(ctx context.Context) error {
	m.stopping.Store(true)
	m.mu.Lock()
	stop, done, telling := m.stop, m.done, m.telling
	m.stop = nil
	m.mu.Unlock()
	var err error
	if stop != nil {
		close(stop)
	}
	if done != nil && !telling.Load() && !ctxwait.Done(ctx, done) {
		err = fmt.Errorf("backup: stop of manager %q: the expiry sweep still runs: %w", m.cfg.Name, ctx.Err())
	}
	return errors.Join(err, m.m.Stop(ctx))
}

// Create makes a new session (a random id with the JvmRoute), stores it in the map
// (the next map member in turn becomes its backup) and returns it.
func (m *Manager) Create(ctx context.Context) (*Session, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	id := strings.ToUpper(hex.EncodeToString(b[:]))
	if m.cfg.JvmRoute != "" {
		id += "." + m.cfg.JvmRoute
	}
	s := NewSession(id, m.cfg.MaxInactive, m.cfg.Limits)
	s.report = &m.report
	if _, err := m.m.Put(ctx, id, s); err != nil {
		return s, fmt.Errorf("backup: session %s stored without a backup: %w", id, err)
	}
	return s, nil
}

// Find returns the session id, fetching it from its backup when another node is its
// primary (the local node becomes the primary); nil when there is none or it expired
// here (see endIfExpired: it is then removed and its listeners are told, as by the expiry
// sweep; a member that misses the removal, such as a dead node still listed, is logged,
// not returned) or on the node it was fetched from (idle for twice its interval, as a
// backup's expiry, whose times lag: TestFindExpiredOnAnotherNode), and also when this
// node lists it but its backup answers that it
// holds none (replmap.ErrNoEntry: the session was removed on the other nodes while this
// one missed it). A backup that does not answer is an error wrapping
// replmap.ErrUnavailable.
func (m *Manager) Find(ctx context.Context, id string) (*Session, error) {
	if m.endIfExpired(id, time.Now()) {
		// Removed as the sweep removes it, and its listeners told the same way
		// (TestFindExpiredTellsListeners). A removal that some member missed, the
		// session removed here, is logged as the sweep logs it: the session expired all
		// the same, and the request goes on without it
		// (TestFindExpiredWhoseRemovalMissesAMember).
		old, err := m.m.Remove(ctx, id)
		m.tellDestroyed(old, true)
		if err != nil && old != nil {
			m.log.Warn("backup: remove expired session", "manager", m.cfg.Name, "id", id, "err", err)
			err = nil
		}
		return nil, err
	}
	v, ok, err := m.m.Get(ctx, id)
	if errors.Is(err, replmap.ErrNoEntry) {
		m.log.Debug("backup: session listed here is gone from its backup", "manager", m.cfg.Name, "id", id, "err", err)
		return nil, nil
	}
	if err != nil || !ok {
		return nil, err
	}
	s, ok := v.(*Session)
	if !ok {
		return nil, fmt.Errorf("%w: %T under %s", ErrNotSession, v, id)
	}
	if s.isEnded() { // expired, and being removed by the sweep
		return nil, nil
	}
	if m.endIfExpired(id, time.Now()) {
		// Taken over from another node expired (Session.takenOver kept its idle time):
		// removed and its listeners told, as above (TestFindExpiredOnAnotherNode).
		old, err := m.m.Remove(ctx, id)
		m.tellDestroyed(old, true)
		return nil, err
	}
	return s, nil
}

// routeScan is how often, at most, routes reads the routes of the map's keys: only
// requests whose cookie finds no session ask for them, and a client sending made-up
// cookies makes a node scan its keys no more often than that.
const routeScan = 5 * time.Second

// maxRoutes bounds the routes routes returns.
const maxRoutes = 64

// findRenamed finds the session of id under another jvmRoute: this node's, then the
// other routes of the map's session ids (routes).
func (m *Manager) findRenamed(ctx context.Context, id string) (*Session, error) {
	tried := map[string]bool{sessionhttp.RouteOf(id): true}
	for _, r := range append([]string{m.cfg.JvmRoute}, m.routes()...) {
		if r == "" || tried[r] {
			continue
		}
		tried[r] = true
		if s, err := m.Find(ctx, sessionhttp.WithRoute(id, r)); s != nil || err != nil {
			return s, err
		}
	}
	return nil, nil
}

// routes returns the jvmRoutes of the map's session ids (at most maxRoutes), read from
// its keys at most once per routeScan.
func (m *Manager) routes() []string {
	m.routeMu.Lock()
	defer m.routeMu.Unlock()
	if !m.routesAt.IsZero() && time.Since(m.routesAt) < routeScan {
		return m.routeList
	}
	m.routesAt = time.Now()
	seen := map[string]bool{}
	var list []string
	for _, k := range m.m.Keys() {
		id, _ := k.(string)
		if r := sessionhttp.RouteOf(id); r != "" && !seen[r] && len(list) < maxRoutes {
			seen[r] = true
			list = append(list, r)
		}
	}
	m.routeList = list
	return list
}

// endIfExpired reports whether the local node holds session id and it expired at now:
// as its primary, idle for its max inactive interval; as its backup, for twice that (the
// backup's times lag: an unchanged session tells its backup it was used only once per
// interval, and the primary is probably gone), as DeltaSession.isValid does. A session
// a local request holds (Request) is not expired: its request marks it used when its
// response starts (TestSweepSparesSessionInUse). An expired session is marked ended in
// the same step (Session.endIfExpired), so that no request takes it before the caller
// removes it; a session another caller ended is not reported again.
func (m *Manager) endIfExpired(id any, now time.Time) bool {
	v, primary, ok := m.m.Peek(id)
	s, isSession := v.(*Session)
	if !ok || !isSession {
		return false
	}
	if !primary {
		now = now.Add(-s.MaxInactive())
	}
	return s.endIfExpired(now)
}

// ChangeSessionID renames session s to newID on every node, as Tomcat's
// StandardSession.setId does for BackupManager (JvmRouteBinderValve, changeSessionId):
// s is put under newID, which gives it a backup as a new session gets one, and then the
// map's entry under the old id is removed everywhere. It fails with ErrInvalidSessionID
// if newID is not 1 to 256 characters from [A-Za-z0-9._-] (the ids the middleware reads:
// a client could not come back with another), with ErrIDTaken if the map holds another
// session under newID, and returns a wrapped replmap error if the old id's
// removal missed a member or the session could not reach a backup: it is renamed and
// stored here under newID all the same, as Tomcat's rename goes on after its map logs a
// failed removal (TestRenameWhileDeadPrimaryListed). Once renamed, the session's
// listeners that Config.NamedListener gives are told (SessionIDChanged). Renaming a session to
// the id it has does nothing.
func (m *Manager) ChangeSessionID(ctx context.Context, s *Session, newID string) error {
	if !sessionhttp.ValidID(newID) {
		return fmt.Errorf("%w: %q", ErrInvalidSessionID, newID)
	}
	oldID, renamed, err := m.rename(ctx, s, newID)
	if renamed {
		// Outside renameMu: a listener may take a while (the single sign-on's replicates).
		m.tellIDChanged(s, oldID)
	}
	return err
}

// rename is ChangeSessionID under renameMu: it returns the session's old id and whether
// the session was renamed (with an error too when the map missed a member).
func (m *Manager) rename(ctx context.Context, s *Session, newID string) (oldID string, renamed bool, err error) {
	m.renameMu.Lock()
	defer m.renameMu.Unlock()
	oldID = s.ID()
	if oldID == newID {
		return oldID, false, nil
	}
	if v, _, ok := m.m.Peek(newID); ok && v != s {
		return oldID, false, fmt.Errorf("%w: %s", ErrIDTaken, newID)
	}
	// Under the new id first, then the old one removed: a request of the session with the
	// old id meanwhile (a page's parallel requests after a failover) finds it under the
	// old one, already renamed (TestRequestDuringRename). A removal some member missed (a
	// dead node still listed, the usual reason for a failover) does not undo the rename.
	s.setID(newID)
	var perr error
	_, err = m.m.Put(ctx, newID, s)
	// What its full copy carried of the reports is on the backup, or not: settled now,
	// not by the next Replicate's outcome (TestRenamePutThatSentSettlesTheCarriedReport).
	s.settleCarried(err == nil)
	if err != nil {
		perr = fmt.Errorf("backup: session %s renamed %s without a backup: %w", oldID, newID, err)
	}
	if _, err := m.m.Remove(ctx, oldID); err != nil {
		return oldID, true, errors.Join(perr, fmt.Errorf("backup: rename %s: %w", oldID, err))
	}
	return oldID, true, perr
}

// Invalidate removes session id from every node. If this node held it, the listeners
// Config.NamedListener gives for it are told (SessionDestroyed, not expired).
func (m *Manager) Invalidate(ctx context.Context, id string) error {
	return m.invalidate(ctx, id, nil)
}

// invalidate is Invalidate of a session a request holds, held (nil: none): if this
// node's map held no session under id any more (another node took it over, leaving a
// proxy here), held's listeners are told.
func (m *Manager) invalidate(ctx context.Context, id string, held *Session) error {
	old, err := m.m.Remove(ctx, id)
	if s, ok := old.(*Session); (!ok || s == nil) && held != nil {
		old = held
	}
	m.tellDestroyed(old, false)
	return err
}

// Replicate sends what a request did to session id to its backup (BackupManager's
// requestCompleted): its changes as a diff, or MSG_ACCESS when it only was used and was
// not replicated for its max inactive interval, or nothing. Replicates of one session
// run one at a time, so that its diffs reach the backup in the order they were taken
// (concurrent requests). A Replicate that ends after
// Stop started returns an error wrapping replmap.ErrNotStarted, as one that starts after
// it: its diff may reach the backup after the backup took the session over on this
// node's MSG_STOP and passed its copy, without the diff, to a new backup
// (TestStopDuringReplicate). When the session's diff left out values that went beyond
// Limits.Java together (Session.Diff), the others were sent and the error wraps
// delta.ErrMessageLimit and names them (TestDiffPastLimitsTogetherLeavesOut).
func (m *Manager) Replicate(ctx context.Context, id string) error {
	var s *Session
	if v, _, ok := m.m.Peek(id); ok {
		if s, ok = v.(*Session); ok {
			// One at a time per session: the diffs leave in the order they were taken, so
			// the backup applies a later change after an earlier one of the same attribute
			// (TestConcurrentRequestsReplicateInOrder).
			if !s.replMu.TryLock() {
				if replicateWaitHook != nil {
					replicateWaitHook()
				}
				s.replMu.Lock()
			}
			defer s.replMu.Unlock()
		}
	}
	err := m.m.Replicate(ctx, id, false)
	// The session's changes were more than a diff carries (Session.Diff): the map sends
	// it in full now, its diff having failed (TestTooManyChangesWithoutAValueGoInFull).
	for try := 0; try < 2 && errors.Is(err, ErrTooManyChanges); try++ {
		err = m.m.Replicate(ctx, id, false)
	}
	sent := err == nil
	if err == nil && m.stopping.Load() {
		err = fmt.Errorf("backup: session %s: the manager stopped during its replication: %w", id, replmap.ErrNotStarted)
	}
	if s != nil {
		// Its diff left changes out (Session.Diff), or its full copy values (Codec.Encode).
		// The values left out of full copies were counted as they were made (Codec).
		// A Replicate that failed gives back the reports of what the full copies since the
		// last one carried (TestFullCopyWhoseSendFailsKeepsTheDiffReport).
		if diffs, left := s.takeLeftOut(sent); left != nil {
			m.droppedN.Add(uint64(diffs))
			err = errors.Join(left, err)
		}
	}
	return err
}

// servedHere returns an error wrapping ErrNotPrimary when s has changes no Replicate
// took (the map sends nothing for an entry the local node is not the primary of) and the
// map's entry under its id is no longer s with the local node as its primary: another
// node took the session over while a request changed it here (a concurrent request
// there), or it was removed. Its changes are then on no other node.
func (m *Manager) servedHere(s *Session) error {
	if !s.Dirty() {
		return nil
	}
	id := s.ID()
	if v, primary, ok := m.m.Peek(id); ok && primary && v == any(s) {
		return nil
	}
	return fmt.Errorf("%w: session %s", ErrNotPrimary, id)
}

// sweep removes expired sessions every ExpireInterval: those this node is the primary
// of once they are idle for their max inactive interval, backups after twice that (their
// primary is probably gone), as DeltaSession.isValid does.
func (m *Manager) sweep(stop, done chan struct{}, telling *atomic.Bool) {
	defer close(done)
	t := time.NewTicker(m.cfg.ExpireInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m.expire(time.Now(), stop, telling)
		}
	}
}

// expire removes the sessions expired at now and tells their listeners, telling set
// during those calls (nil: not a sweep's), until stop is closed (nil: never).
func (m *Manager) expire(now time.Time, stop <-chan struct{}, telling *atomic.Bool) {
	for _, key := range m.m.Keys() {
		select {
		case <-stop:
			return
		default:
		}
		if !m.endIfExpired(key, now) {
			continue
		}
		if expireHook != nil {
			expireHook(key)
		}
		ctx, cancel := context.WithTimeout(context.Background(), RPCTimeout)
		old, err := m.m.Remove(ctx, key)
		if err != nil {
			m.log.Warn("backup: remove expired session", "manager", m.cfg.Name, "id", key, "err", err)
		} else {
			m.expiredN.Add(1)
		}
		cancel()
		if telling != nil {
			telling.Store(true)
		}
		m.tellDestroyed(old, true)
		if telling != nil {
			telling.Store(false)
		}
	}
}
