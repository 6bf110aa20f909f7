package delta

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Session is one HTTP session (Tomcat's DeltaSession). Every change made through its
// methods is recorded as an action and replicated when the request ends (Manager.Replicate,
// which the middleware calls). Reads never replicate.
//
// Attribute values are encoded by the manager's ValueCodec when they are set. Get returns
// the value that was set; if you mutate it in place (a map, a struct behind a pointer),
// call MarkDirty so the change replicates, or enable Config.DetectMutations.
//
// All methods are safe for concurrent use. On a nil *Session (a request without a session)
// the methods that change it return ErrNoSession and the others return zero values.
type Session struct {
	m *Manager

	updateMu    sync.Mutex // serialises Update; taken before sendMu and mu
	sendMu      sync.Mutex // serialises the session's outgoing messages; taken before mu
	mu          sync.Mutex
	id          string
	created     int64 // unix ms
	accessed    int64 // unix ms of the last access, a running request's start (thisAccessedTime)
	lastAccess  int64 // if not 0, LastAccessedTime during a request: the access before it
	maxInactive int32 // seconds; <= 0 never expires
	isNew       bool
	valid       bool
	expiring    bool
	primary     bool
	version     uint64
	lastRepl    int64 // unix ms of the last message about this session sent from here
	principal   *Principal
	authType    string
	attrs       []attrEntry
	tombs       []tomb // attributes removed recently (stamp.go)
	pending     []Action
	// sentAt is lastRepl kept when a send fails: a joiner's catch-up asks for the
	// sessions this node sent a message about lately (catchup.go)
	sentAt int64
	// With the manager's asyncQueue: queued is set while a message of this session's is
	// queued or being sent; resend asks for the session's pending changes to be taken
	// when it was; sent, if not nil, is closed then (a waiting Replicate made it).
	queued, resend bool
	// unstamped: the copy was loaded from a member that sent no stamps (stamp.go)
	unstamped bool
	// forgot: the highest version of a tombstone forgotten (stamp.go), saturated
	forgot uint32
	sent   chan struct{}
	// lastVersion and lastOrigin: the stamp of the last delta applied whole here (zero:
	// none, or Tomcat's), whose sender's earlier deltas are not to undo it (applyDelta)
	lastVersion uint64
	lastOrigin  uint32
	// takenSec: the unix second another node's change of the session (a delta, its
	// creation, a rename, a refresh's, a repair's or a catch-up's merge or load of a
	// member's copy) was last taken here, for the answer to a member back in view
	// (recent.go); a uint32 in lastOrigin's padding (TestSessionSizeClass)
	takenSec uint32
	// loaded: the version of the state transfer's copy this one was last loaded from
	// (SessionState.Version; a refresh's, a repair's), 0 if none: parts a later creation
	// made again below it must not take for the earlier session's (shedEarlier)
	loaded uint64
	// ext, under mu: what a session made again under a removed id, or whose principal,
	// auth type, interval, notes or listeners another node's change stamped, keeps, and
	// its notes and named listeners; nil for most sessions (a pointer, not its fields: a
	// replica's size class, TestSessionSizeClass). Read through e, written through x.
	ext *sessionExt
	// retry, under sendMu: the renames of the session that failed to reach every member
	// (rename_unsent.go); nil when none, as for almost every session (a pointer, not its
	// fields: a replica's size class, TestSessionSizeClass).
	retry *renameRetry
}

// sessionExt is the part of a Session most sessions leave empty (Session.ext).
type sessionExt struct {
	// born: the version of the removal of a session under the same id that this one was
	// made again above (CreateWithID; a creation's Message.Version), 0 if none is known.
	// An expiry up to it is the earlier session's (expired.go).
	born uint64
	// meta: the stamps of the parts that are not attributes (stamp_meta.go)
	meta []metaStamp
	// notes (SetNote) and named, the names of the listeners attached (AttachListener):
	// set by Tomcat's authenticators and by few applications, so kept here rather than
	// in every Session (TestSessionSizeClass).
	notes []noteEntry
	named []string
	// left: the ids a binder's renames took the session away from here, or on a member
	// whose copy this one loaded or merged (AskLeft, AskRecentLeft), with their times,
	// oldest first (newerLeft), at most maxLeft (rename.go, noteLeft, addLeft, takeLeft,
	// mergeLeft)
	left []leftID
}

// noExt is what e returns for a session without ext: never written.
var noExt sessionExt

// e returns s.ext for reading (noExt if nil). The caller holds s.mu.
func (s *Session) e() *sessionExt {
	if s.ext == nil {
		return &noExt
	}
	return s.ext
}

// x returns s.ext for writing, made if nil. The caller holds s.mu.
func (s *Session) x() *sessionExt {
	if s.ext == nil {
		s.ext = &sessionExt{}
	}
	return s.ext
}

type attrEntry struct {
	name    string
	data    []byte // the codec's encoding; never modified
	value   any
	version uint64 // with origin, the stamp of the change that set it (stamp.go)
	origin  uint32
	decoded bool
	read    bool // read by Get since the last replication (DetectMutations)
	// here: changed on this node since its stamp was given (its delta, not taken yet,
	// will be stamped above every change applied: stamp.go)
	here bool
}

// stamp returns the stamp of the change that set the entry (stamp.go).
func (e *attrEntry) stamp() stamp { return stamp{e.version, e.origin} }

// setStamp records st as the stamp of the change that set the entry.
func (e *attrEntry) setStamp(st stamp) { e.version, e.origin = st.version, st.origin }

type noteEntry struct{ name, value string }

func nowMs() int64 { return time.Now().UnixMilli() }

// ID returns the session's current id.
func (s *Session) ID() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// lockValid locks s for a change. It returns ErrNoSession for a nil session, and
// ErrInvalidSession, s unlocked again, for an invalidated one; after nil the caller
// holds s.mu and unlocks it.
func (s *Session) lockValid() error {
	if s == nil {
		return ErrNoSession
	}
	s.mu.Lock()
	if !s.valid {
		s.mu.Unlock()
		return ErrInvalidSession
	}
	return nil
}

// Manager returns the manager the session belongs to.
func (s *Session) Manager() *Manager {
	if s == nil {
		return nil
	}
	return s.m
}

// CreationTime is when the session was created (on whichever node).
func (s *Session) CreationTime() time.Time {
	if s == nil {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.UnixMilli(s.created)
}

// LastAccessedTime is the last time a request used the session, here or (as far as
// replication told) elsewhere. During a request it is the time of the access before
// that request, as Tomcat's getLastAccessedTime: the middleware's access at the
// request's start counts (for expiry and replication) but shows only once the request
// ended (TestLastAccessedTimeDuringRequestIsThePreviousOne).
func (s *Session) LastAccessedTime() time.Time {
	if s == nil {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastAccess != 0 {
		return time.UnixMilli(s.lastAccess)
	}
	return time.UnixMilli(s.accessed)
}

// Access records a use of the session now, a whole one (Tomcat's access and
// endAccess): LastAccessedTime returns now. The middleware does that itself when a
// request starts and ends; call it when driving a Manager without the middleware.
func (s *Session) Access() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.accessed, s.lastAccess = nowMs(), 0
	s.mu.Unlock()
}

// accessAt records the start of a request at unix ms now (Tomcat's access): the
// session's idle time counts from now, while LastAccessedTime keeps the earlier access
// until the request ends (endRequest).
func (s *Session) accessAt(now int64) {
	s.mu.Lock()
	if s.lastAccess == 0 {
		s.lastAccess = s.accessed
	}
	s.accessed = now
	s.mu.Unlock()
}

// IsNew reports whether the client has not yet joined the session (no request that used
// it has completed).
func (s *Session) IsNew() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isNew
}

// IsValid reports whether the session is still alive (neither expired nor invalidated).
func (s *Session) IsValid() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.valid && !s.expiring
}

// IsPrimary reports whether this node served the session last.
func (s *Session) IsPrimary() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.primary
}

// Dirty reports whether the session has changes not replicated yet.
func (s *Session) Dirty() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending) > 0
}

// MaxInactiveInterval is the idle time after which the session expires; 0 means never.
func (s *Session) MaxInactiveInterval() time.Duration {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxInactive <= 0 {
		return 0
	}
	return time.Duration(s.maxInactive) * time.Second
}

// SetMaxInactiveInterval changes the idle timeout (whole seconds); d <= 0 means never.
func (s *Session) SetMaxInactiveInterval(d time.Duration) error {
	sec := int32(-1)
	if d > 0 {
		sec = int32(min(max(d/time.Second, 1), 1<<31-1))
	}
	if err := s.lockValid(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.maxInactive = sec
	s.record(Action{Type: ActionMaxInterval, Op: OpSet, Name: nameMaxInterval, Value: encodeInterval(sec)})
	return nil
}

// Get returns the value of attribute name. A value received from another node is
// decoded on first use; if that fails, Get reports false and Stats counts it.
func (s *Session) Get(name string) (any, bool) {
	if s == nil {
		return nil, false
	}
	s.mu.Lock()
	i := s.find(name)
	if i < 0 || !s.valid {
		s.mu.Unlock()
		return nil, false
	}
	e := &s.attrs[i]
	v, err := s.decode(e)
	if err == nil && s.m.cfg.DetectMutations {
		e.read = true
	}
	s.mu.Unlock()
	if err != nil {
		s.m.valueDecodeFailed(name, err)
		return nil, false
	}
	return v, true
}

// Attr returns attribute name of s as a T; ok is false if it is missing or of another type.
func Attr[T any](s *Session, name string) (v T, ok bool) {
	x, found := s.Get(name)
	if !found {
		return v, false
	}
	v, ok = x.(T)
	return v, ok
}

// Set sets attribute name to v. The value is encoded now, and decoded back to check that
// every node will read the same Go type: a value the codec cannot encode, or one that
// would not replicate faithfully (ErrValueNotReplicable: a struct with unexported fields, a
// *T when gob registered T), is refused with a *ValueError and the session is unchanged.
// A nil v removes the attribute.
func (s *Session) Set(name string, v any) error {
	if s == nil {
		return ErrNoSession
	}
	n, ok, err := s.set(name, v)
	if ok {
		s.m.fire(context.Background(), s, false, n)
	}
	return err
}

// set is Set without telling the listeners: it returns the notice for them, if any (ok).
func (s *Session) set(name string, v any) (n notice, ok bool, err error) {
	if v == nil {
		return s.remove(name)
	}
	data, err := s.m.encodeValue(name, v)
	if err != nil {
		return n, false, err
	}
	if err := s.lockValid(); err != nil {
		return n, false, err
	}
	// The entry keeps the stamp of the value it replaces until the request's delta
	// stamps it (takeDelta): meanwhile, a change from another node older than that value
	// must not apply.
	if i := s.find(name); i >= 0 {
		old, _ := s.decodeForNotice(&s.attrs[i])
		s.attrs[i] = attrEntry{name: name, data: data, value: v, decoded: true, version: s.attrs[i].version, origin: s.attrs[i].origin,
			here: true}
		n = notice{kind: nReplaced, name: name, value: old}
	} else {
		st := s.stampOf(name)
		s.unbury(name)
		s.addAttr(attrEntry{name: name, data: data, value: v, decoded: true, version: st.version, origin: st.origin, here: true})
		n = notice{kind: nAdded, name: name, value: v}
	}
	s.record(Action{Type: ActionAttribute, Op: OpSet, Name: name, Value: data})
	s.mu.Unlock()
	return n, true, nil
}

// Update sets attribute name to what f returns for its current value (nil when it has
// none) as one step: on this node, Updates of a session run one at a time, so concurrent
// requests that each add one to a counter lose nothing. Like Set, the new value is
// checked and recorded as one action, replicated when the request ends; returning nil
// removes the attribute. If f returns an error, or the current value cannot be decoded,
// or the new one cannot be encoded, nothing changes and the error is returned. f may read
// the session but must not call Update on it (that would wait for itself); attribute
// listeners hear of the change after the Update is over, and may. A Set of the
// same attribute, or an Update on another node, is not ordered with it: of two concurrent
// changes on two nodes every node keeps the same one, the other is lost (see "Concurrent
// requests on two nodes" in the package documentation), so route a session's requests to
// one node when several update it at once. A nil f is an error wrapping ErrInvalidConfig
// (a misuse, as a nil *Manager given to NewMiddleware) and changes nothing.
func (s *Session) Update(name string, f func(old any) (any, error)) (any, error) {
	if s == nil {
		return nil, ErrNoSession
	}
	if f == nil {
		return nil, fmt.Errorf("%w: Update of attribute %q with a nil function", ErrInvalidConfig, name)
	}
	n, ok, v, err := s.update(name, f)
	if ok {
		// After the Update slot is released: an attribute listener may Update the
		// session too (TestAttributeListenerMayUpdateTheSession).
		s.m.fire(context.Background(), s, false, n)
	}
	return v, err
}

// update is Update with the session's Update slot held, without telling the listeners:
// it returns the notice for them, if any (ok).
func (s *Session) update(name string, f func(old any) (any, error)) (n notice, ok bool, v any, err error) {
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	old, err := s.current(name)
	if err != nil {
		return n, false, nil, err
	}
	if v, err = f(old); err != nil {
		return n, false, nil, err
	}
	if n, ok, err = s.set(name, v); err != nil {
		return n, false, nil, err
	}
	return n, ok, v, nil
}

// current returns attribute name (nil if missing), or why it cannot be read.
func (s *Session) current(name string) (any, error) {
	if err := s.lockValid(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	i := s.find(name)
	if i < 0 {
		return nil, nil
	}
	v, err := s.decode(&s.attrs[i])
	if err != nil {
		return nil, &ValueError{Name: name, Err: err}
	}
	return v, nil
}

// Remove removes attribute name; removing a missing attribute records nothing.
func (s *Session) Remove(name string) error {
	if s == nil {
		return ErrNoSession
	}
	n, ok, err := s.remove(name)
	if ok {
		s.m.fire(context.Background(), s, false, n)
	}
	return err
}

// remove is Remove without telling the listeners: it returns the notice for them, if any
// (ok).
func (s *Session) remove(name string) (n notice, ok bool, err error) {
	if err := s.lockValid(); err != nil {
		return n, false, err
	}
	i := s.find(name)
	if i < 0 {
		s.mu.Unlock()
		return n, false, nil
	}
	old, _ := s.decodeForNotice(&s.attrs[i])
	s.buryHere(name, s.attrs[i].stamp()) // stamped anew by the request's delta (takeDelta)
	s.attrs = slices.Delete(s.attrs, i, i+1)
	s.record(Action{Type: ActionAttribute, Op: OpRemove, Name: name})
	s.mu.Unlock()
	return notice{kind: nRemoved, name: name, value: old}, true, nil
}

// MarkDirty re-encodes the current value of attribute name and records it for
// replication: call it after mutating a value in place. A missing attribute is not an
// error.
func (s *Session) MarkDirty(name string) error {
	if err := s.lockValid(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	i := s.find(name)
	if i < 0 {
		return nil
	}
	e := &s.attrs[i]
	v, err := s.decode(e)
	if err != nil {
		return &ValueError{Name: name, Err: err}
	}
	data, err := s.m.encodeValue(name, v)
	if err != nil {
		return err
	}
	e.data, e.here = data, true
	s.record(Action{Type: ActionAttribute, Op: OpSet, Name: name, Value: data})
	return nil
}

// Names returns the attribute names in the order they were first set.
func (s *Session) Names() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.attrs))
	for i := range s.attrs {
		out[i] = s.attrs[i].name
	}
	return out
}

// ---- internals; the caller holds s.mu unless noted ----

// idleFor reports whether the session has been idle for factor times its max inactive
// interval at now (unix ms).
func (s *Session) idleFor(now, factor int64) bool {
	return s.maxInactive > 0 && now-s.accessed >= factor*int64(s.maxInactive)*1000
}

// addAttr appends e to the session's attributes (the caller holds s.mu). When they
// outgrow their array, the old one is cleared: it may be the room allocated with the
// session (replicaWithAttr), where the entry copied away would otherwise keep its value,
// and the received chunk it points into, alive as long as the session.
func (s *Session) addAttr(e attrEntry) {
	old := s.attrs
	s.attrs = append(s.attrs, e)
	if len(old) == cap(old) {
		clear(old)
	}
}

func (s *Session) find(name string) int {
	for i := range s.attrs {
		if s.attrs[i].name == name {
			return i
		}
	}
	return -1
}

func (s *Session) decode(e *attrEntry) (any, error) {
	if e.decoded {
		return e.value, nil
	}
	v, err := s.m.cfg.Codec.Unmarshal(e.data)
	if err != nil {
		return nil, err
	}
	e.value, e.decoded = v, true
	return v, nil
}

// decodeForNotice decodes a value only when attribute listeners will see it.
func (s *Session) decodeForNotice(e *attrEntry) (any, error) {
	if len(s.m.cfg.AttributeListeners) == 0 {
		return nil, nil
	}
	return s.decode(e)
}
