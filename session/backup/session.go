package backup

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/session/delta"
)

// Session is one of Tomcat's DeltaSessions as BackupManager's map holds it: the id, the
// times, the attributes (Java serialization streams, read and written as Go values
// through delta.JavaValueCodec), the principal, the notes and listeners Tomcat
// replicates, and the changes made since the last Diff (its DeltaRequest). It implements
// replmap.Diffable and replmap.AccessReplicated. All methods are safe for concurrent use.
type Session struct {
	mu      sync.Mutex
	st      delta.SessionState
	pending []delta.Action // the DeltaRequest: changes since the last Diff (see changes)
	// pendingAt is the place in pending of each change by type and name, so that record
	// replaces one without a scan; a replaced change is left in place as a hole (type
	// holeAction), holes of them, until changes or record closes them.
	pendingAt map[pendKey]int
	holes     int
	// attrAt is the place of each attribute name in st.Attributes (a name is there once:
	// Codec.Decode keeps one value per name, and Set and a diff replace a name's value in
	// place), and attrN what the attribute and note values take (attrBytes), so that Set,
	// Get and Remove look nothing up by a scan; nil while not built (a new session, or
	// once a diff replaced st), built by the next of them.
	attrAt map[string]int
	attrN  int64
	// attrGone marks the places of st.Attributes that Removes emptied (nil for none),
	// holes of them: compactAttrs closes them once they are half of the places, and
	// before st is read whole (AttributeNames, a full copy, ApplyDiff), so that a Remove
	// costs constant amortised time.
	attrGone  []bool
	attrHoles int
	primary   bool // isPrimarySession
	// replicated is when the map last sent something about the session
	// (lastTimeReplicated).
	replicated time.Time
	limits     Limits
	// requests counts the local requests holding the session (hold, release): the sweep
	// spares it meanwhile.
	requests int
	// ended is set when the manager found the session expired (endIfExpired), not held
	// by any request, and is removing it: no request holds it from then on.
	ended bool
	// replMu orders Manager.Replicate's of the session: each takes its diff and sends it
	// holding it.
	replMu sync.Mutex
	// leftOut are the changes Diffs left out for Limits.Java since Manager.Replicate
	// last took them (takeLeftOut), less those a full copy carried since; leftOutWhy is
	// the encoder's refusal.
	leftOut    []leftValue
	leftOutWhy error
	// fullOut are the values the last full copy left out for Limits.Java (fullCopy),
	// until Manager.Replicate takes them; fullOutWhy is the encoder's refusal.
	fullOut    []leftValue
	fullOutWhy error
	// carriedDiff and carriedFull are the values reported left out (of a diff: leftOut;
	// of the previous full copy: fullOut) that full copies made since the last
	// Manager.Replicate carried, so no longer reported: a Replicate that did not send gives
	// their reports back (takeLeftOut), those copies perhaps not sent; the whys are the
	// reports' refusals.
	carriedDiff, carriedFull       []leftValue
	carriedDiffWhy, carriedFullWhy error
	// report, when set (a session of a Manager's: it created it, or its map received
	// it), counts and logs the listeners ApplyDiff leaves out; listenersLogged is set
	// once it logged them for this session.
	report          *diffReport
	listenersLogged bool
}

// diffReport is where a Manager's sessions report the listeners ApplyDiff leaves out
// (Stats.DiffListenersLeftOut).
type diffReport struct {
	listenersOut atomic.Uint64
	log          *slog.Logger
	manager      string
}

// NewSession returns a new session with the id, created now, with max inactive interval
// maxInactive (0 means DefaultMaxInactive, negative never expires; see SetMaxInactive
// for the rounding), marked new and primary. Its creation is not a change: Put it into
// the map.
func NewSession(id string, maxInactive time.Duration, limits Limits) *Session {
	if maxInactive == 0 {
		maxInactive = DefaultMaxInactive
	}
	secs := intervalSecs(maxInactive)
	now := time.Now()
	return &Session{st: delta.SessionState{ID: id, CreationTime: now.UnixMilli(), LastAccessedTime: now.UnixMilli(),
		MaxInactive: secs, IsNew: true}, primary: true, replicated: now, limits: limits.withDefaults()}
}

// ID returns the session id.
func (s *Session) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.ID
}

// setID renames the session (ChangeSessionID): what it sends from now on carries id.
func (s *Session) setID(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.ID = id
}

// CreationTime returns when the session was created.
func (s *Session) CreationTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.UnixMilli(s.st.CreationTime)
}

// LastAccessedTime returns when the session was last used.
func (s *Session) LastAccessedTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.UnixMilli(s.st.LastAccessedTime)
}

// MaxInactive returns the max inactive interval; 0 or negative means never (a Tomcat
// node's session may carry 0, what setMaxInactiveInterval(0) stores).
func (s *Session) MaxInactive() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.st.MaxInactive) * time.Second
}

// IsNew reports whether the client has not yet come back with the session.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.IsNew
}

// Version is DeltaSession's version field, carried as is.
func (s *Session) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Version
}

// Principal returns the session's principal (nil for none). Do not modify it.
func (s *Session) Principal() *delta.Principal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.Principal
}

// SetPrincipal sets the session's authenticated principal (nil removes it), as Tomcat's
// authenticators do once a realm authenticated the user, and records the change for the
// next Diff, where Tomcat's nodes read it as a GenericPrincipal. The session keeps a
// copy. Attributes and a user principal without a Java form (see delta.EncodePrincipal)
// are refused with an error wrapping delta.ErrNoJavaForm, the session unchanged.
func (s *Session) SetPrincipal(p *delta.Principal) error {
	if p == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.st.Principal = nil
		s.record(delta.Action{Type: delta.ActionPrincipal, Op: delta.OpRemove, Name: namePrincipal})
		return nil
	}
	b, err := delta.EncodePrincipal(p)
	if err != nil {
		return fmt.Errorf("backup: principal: %w", err)
	}
	cp, err := s.limits.Java.DecodePrincipal(b) // the session's own copy, as it travels
	if err != nil {
		return fmt.Errorf("backup: principal: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Principal = cp
	s.record(delta.Action{Type: delta.ActionPrincipal, Op: delta.OpSet, Name: namePrincipal, Value: b})
	return nil
}

// AuthType returns the authentication type ("FORM", "BASIC", ...), or "".
func (s *Session) AuthType() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.AuthType
}

// SetAuthType sets the authentication type (empty removes it) and records the change.
func (s *Session) SetAuthType(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.AuthType = t
	if t == "" {
		s.record(delta.Action{Type: delta.ActionAuthType, Op: delta.OpRemove, Name: nameAuthType})
		return
	}
	s.record(delta.Action{Type: delta.ActionAuthType, Op: delta.OpSet, Name: nameAuthType, Value: []byte(t)})
}

// The names Tomcat's DeltaRequest gives the principal's and the authentication type's
// actions.
const (
	namePrincipal = "__SET__PRINCIPAL__"
	nameAuthType  = "__SET__AUTHTYPE__"
)

// Primary reports whether the local node serves the session (isPrimarySession): true
// for a session created here or made primary (Manager does that when the map makes the
// node its primary), false after another node told it used the session.
func (s *Session) Primary() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.primary
}

// SetPrimary sets what Primary reports.
func (s *Session) SetPrimary(p bool) {
	s.mu.Lock()
	s.primary = p
	s.mu.Unlock()
}

// takenOver marks the session primary and used now, as BackupManager.objectMadePrimary
// does when the local node takes it over (a Get of a proxy or backup, or a backup whose
// primary left), unless the copy taken over has been idle for twice its interval at now
// (expired by a backup's reckoning, whose times lag the primary's by up to one
// interval): its idle time is kept then, so that Find or the sweep expires it as the
// primary it now is. Tomcat marks it used all the same: a request that came back after
// the session expired, to a node its primary's and backup's sweeps had not reached,
// took it over and used it again (TestFindExpiredOnAnotherNode).
func (s *Session) takenOver(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.expiredLocked(now.Add(-time.Duration(s.st.MaxInactive) * time.Second)) {
		s.st.LastAccessedTime = now.UnixMilli()
		s.st.IsNew = false
	}
	s.primary = true
}

// Expired reports whether the session has been idle for longer than its max inactive
// interval at now. A session whose interval is 0 or negative never expires, as
// DeltaSession.isValid has it (TestMaxInactiveZeroNeverExpires).
func (s *Session) Expired(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiredLocked(now)
}

// expiredLocked is Expired, s.mu held.
func (s *Session) expiredLocked(now time.Time) bool {
	return s.st.MaxInactive > 0 && now.UnixMilli()-s.st.LastAccessedTime >= int64(s.st.MaxInactive)*1000
}

// hold records that a local request uses the session, until release: the manager does
// not expire it meanwhile, as Tomcat measures idleness from the start of the request
// that uses the session (thisAccessedTime). It reports false, holding nothing, when the
// manager already found the session expired and is removing it (endIfExpired): the
// request has no session then.
func (s *Session) hold() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.requests++
	return true
}

// endIfExpired reports whether the session, held by no request, expired at now (see
// Expired), and if so marks it ended in the same step: a request can no longer hold it,
// so the manager removes it and tells its listeners of its expiry without a request
// taking it in between (TestSweepCheckAndRemoveAtomic). A session already ended is not
// reported again.
func (s *Session) endIfExpired(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.requests > 0 || !s.expiredLocked(now) {
		return false
	}
	s.ended = true
	return true
}

// isEnded reports whether the manager found the session expired and removes it.
func (s *Session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// release ends a hold.
func (s *Session) release() {
	s.mu.Lock()
	s.requests--
	s.mu.Unlock()
}

// Access marks the session used now (Tomcat's access and endAccess): its last accessed
// time becomes now and it is no longer new. The map replicates it as MSG_ACCESS when
// nothing else changed and it was not replicated for its max inactive interval.
func (s *Session) Access() {
	s.mu.Lock()
	s.st.LastAccessedTime = time.Now().UnixMilli()
	s.st.IsNew = false
	s.mu.Unlock()
}

// SetMaxInactive sets the max inactive interval and records the change. It travels in
// whole seconds, as Tomcat's maxInactiveInterval: d is rounded down to seconds, a
// positive d below one second up to one (it expires, as delta's
// Session.SetMaxInactiveInterval); 0 or negative never expires (-1 travels).
func (s *Session) SetMaxInactive(d time.Duration) {
	secs := intervalSecs(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.MaxInactive = secs
	s.record(delta.Action{Type: delta.ActionMaxInterval, Op: delta.OpSet, Value: binary.AppendVarint(nil, int64(secs))})
}

// intervalSecs is d as a max inactive interval in seconds: rounded down, but at least 1
// for a positive d; -1 (never) for 0 or negative.
func intervalSecs(d time.Duration) int32 {
	if d <= 0 {
		return -1
	}
	return int32(min(max(d/time.Second, 1), 1<<31-1))
}

// record adds a change to the DeltaRequest: a later change of the same type and name
// replaces an earlier one, as in Tomcat's DeltaRequest, and goes last. The earlier one
// is left as a hole, closed (in the order of the changes kept) once they are half of
// pending or by changes: a change costs constant amortised time
// (TestSetManyAttributesScansNothing, BenchmarkSessionSetMany).
func (s *Session) record(a delta.Action) {
	if s.pendingAt == nil {
		s.pendingAt = make(map[pendKey]int)
	}
	k := pendKey{a.Type, a.Name}
	if i, ok := s.pendingAt[k]; ok {
		s.pending[i] = delta.Action{Type: holeAction}
		s.holes++
	}
	s.pendingAt[k] = len(s.pending)
	s.pending = append(s.pending, a)
	if s.holes > len(s.pending)/2 {
		s.changes()
	}
}

// pendKey is a change's type and name: a later change of both replaces an earlier one.
type pendKey struct {
	t    delta.ActionType
	name string
}

// holeAction marks a change replaced by a later one in pending.
const holeAction delta.ActionType = 255

// changes closes the holes of pending and returns it: the changes since the last Diff,
// in order.
func (s *Session) changes() []delta.Action {
	if s.holes == 0 {
		return s.pending
	}
	s.pending = slices.DeleteFunc(s.pending, func(a delta.Action) bool { return a.Type == holeAction })
	s.holes = 0
	clear(s.pendingAt)
	for i, a := range s.pending {
		s.pendingAt[pendKey{a.Type, a.Name}] = i
	}
	return s.pending
}

// forgetChanges empties the DeltaRequest (a Diff took it).
func (s *Session) forgetChanges() {
	s.pending, s.holes = nil, 0
	clear(s.pendingAt)
}
