package redisstore

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gotribes/tribes/session/delta"
)

// Session is one HTTP session as loaded from the store (or new). Changes are kept in
// memory until Store.Save (the middleware saves before the response starts). Its
// methods mirror delta.Session's; all are safe for concurrent use. On a nil *Session the
// methods that change it return delta.ErrNoSession and the others return zero values.
type Session struct {
	st *Store

	updateMu sync.Mutex // serialises Update; taken before mu
	mu       sync.Mutex
	id       string
	storedID string // the id it is stored under; "" until first saved
	version  uint64 // the stored version it was loaded from or saved as; 0 until saved
	created  int64  // unix ms
	accessed int64  // unix ms
	// maxInactive is in seconds; <= 0 never expires.
	maxInactive int32
	isNew       bool
	valid       bool
	// idFixed: the middleware's response started, with a cookie naming id; ChangeID
	// would move the session away from it.
	idFixed bool
	// changes counts the changes made; saved is its value at the last save (or load).
	changes, savedChanges uint64
	// size is what the attributes take in the stored encoding (attrSize); base what the
	// rest of it takes (baseLocked; 0 until computed, reset by what changes it).
	size, base int
	attrs      []attr
	// rest keeps what this API does not change (principal, auth type, notes, listeners
	// set by other software sharing the format) so that a save writes it back.
	rest delta.SessionState
}

type attr struct {
	name    string
	data    []byte // the codec's encoding
	value   any
	decoded bool
}

// ID returns the session's id.
func (s *Session) ID() string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// Version is the stored version the session was loaded from or last saved as: 1 after
// the first save, one more with each save; 0 for a session never saved.
func (s *Session) Version() uint64 {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// CreationTime is when the session was created.
func (s *Session) CreationTime() time.Time {
	if s == nil {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.UnixMilli(s.created)
}

// LastAccessedTime is when the session was last saved (a request that only reads the
// session renews its TTL without writing it).
func (s *Session) LastAccessedTime() time.Time {
	if s == nil {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.UnixMilli(s.accessed)
}

// IsNew reports whether the client has not yet come back with the session (it was
// created by this request).
func (s *Session) IsNew() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isNew
}

// IsValid reports whether the session was not invalidated.
func (s *Session) IsValid() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.valid
}

// Dirty reports whether the session has changes not saved yet.
func (s *Session) Dirty() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirtyLocked()
}

// dirtyLocked: changed since loaded or saved, renamed, or never saved.
func (s *Session) dirtyLocked() bool { return s.changes != s.savedChanges || s.id != s.storedID }

// MaxInactiveInterval is the idle time after which the session expires (its key's
// TTL); 0 means never.
func (s *Session) MaxInactiveInterval() time.Duration {
	if s == nil || s.getMaxInactive() <= 0 {
		return 0
	}
	return time.Duration(s.getMaxInactive()) * time.Second
}

func (s *Session) getMaxInactive() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInactive
}

// SetMaxInactiveInterval changes the idle timeout (whole seconds); d <= 0 means never.
func (s *Session) SetMaxInactiveInterval(d time.Duration) error {
	sec := int32(-1)
	if d > 0 {
		sec = int32(min(max(d/time.Second, 1), 1<<31-1))
	}
	return s.change(func() error {
		s.maxInactive, s.base = sec, 0
		return nil
	})
}

// change runs f under s.mu on a valid session and counts a change if f succeeds.
func (s *Session) change(f func() error) error {
	if s == nil {
		return delta.ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.valid {
		return ErrInvalidSession
	}
	if err := f(); err != nil {
		return err
	}
	s.changes++
	return nil
}

// Get returns the value of attribute name, decoded on first use. A value that cannot be
// decoded (its type is not registered here) reads as missing and is logged.
func (s *Session) Get(name string) (any, bool) {
	v, err := s.current(name)
	if err != nil {
		if s != nil {
			s.st.cfg.Logger.Warn("redisstore: cannot decode an attribute value (is its type registered on this node?)",
				"attribute", name, "err", err)
		}
		return nil, false
	}
	return v, v != nil
}

// current returns attribute name (nil if missing or s is invalid), or why it cannot be
// decoded.
func (s *Session) current(name string) (any, error) {
	if s == nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.find(name)
	if i < 0 || !s.valid {
		return nil, nil
	}
	e := &s.attrs[i]
	if !e.decoded {
		v, err := s.st.cfg.Codec.Unmarshal(e.data)
		if err != nil {
			return nil, &delta.ValueError{Name: name, Err: err}
		}
		e.value, e.decoded = v, true
	}
	return e.value, nil
}

// Attr returns attribute name of s as a T; ok is false if it is missing or of another
// type.
func Attr[T any](s *Session, name string) (v T, ok bool) {
	x, found := s.Get(name)
	if !found {
		return v, false
	}
	v, ok = x.(T)
	return v, ok
}

// Set sets attribute name to v, encoded at once by the store's codec: a value that
// cannot be encoded, or would read back as another Go type, is refused with a
// *delta.ValueError; a name over 4 KiB, a value whose encoding exceeds
// Config.MaxValueSize, or one that would make the encoded session exceed MaxSessionSize
// (what Save checks) or MaxAttributes, with a *LimitError (ErrTooLarge). The session is
// then unchanged. A nil v removes the attribute.
func (s *Session) Set(name string, v any) error {
	if s == nil {
		return delta.ErrNoSession
	}
	if v == nil {
		return s.Remove(name)
	}
	if s.st == nil { // a zero Session, not from a Store: never valid
		return ErrInvalidSession
	}
	if len(name) > maxNameLen {
		return &LimitError{What: "attribute name", Size: len(name), Limit: maxNameLen}
	}
	data, err := s.st.encodeValue(name, v)
	if err != nil {
		return err
	}
	return s.change(func() error {
		i := s.find(name)
		size, n := s.size+attrSize(name, data), len(s.attrs)
		if i >= 0 {
			size -= attrSize(name, s.attrs[i].data)
		} else if n++; n > s.st.cfg.MaxAttributes {
			return &LimitError{What: "attributes", Size: n, Limit: s.st.cfg.MaxAttributes}
		}
		base, err := s.baseLocked()
		if err != nil {
			return err
		}
		if total := base + size + uvarintLen(n) - 1; total > s.st.cfg.MaxSessionSize {
			return &LimitError{What: "session", Size: total, Limit: s.st.cfg.MaxSessionSize}
		}
		e := attr{name: name, data: data, value: v, decoded: true}
		if i >= 0 {
			s.attrs[i] = e
		} else {
			s.attrs = append(s.attrs, e)
		}
		s.size = size
		return nil
	})
}

// Remove removes attribute name; removing a missing attribute changes nothing.
func (s *Session) Remove(name string) error {
	if s == nil {
		return delta.ErrNoSession
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.valid {
		return ErrInvalidSession
	}
	if i := s.find(name); i >= 0 {
		s.size -= attrSize(name, s.attrs[i].data)
		s.attrs = slices.Delete(s.attrs, i, i+1)
		s.changes++
	}
	return nil
}

// Update sets attribute name to what f returns for its current value (nil when it has
// none) as one step within this request: Updates of one *Session run one at a time. It
// is not a lock across nodes: two requests of one session on two nodes each update
// their own copy, and the second to save gets ErrConflict (see the package
// documentation, "Concurrent requests"). Returning nil removes the attribute; an error
// from f, or a value Set refuses, leaves the session unchanged. A nil f is an error
// wrapping ErrInvalidConfig and changes nothing.
func (s *Session) Update(name string, f func(old any) (any, error)) (any, error) {
	if s == nil {
		return nil, delta.ErrNoSession
	}
	if f == nil {
		return nil, fmt.Errorf("%w: Update of attribute %q with a nil function", ErrInvalidConfig, name)
	}
	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	old, err := s.current(name)
	if err != nil {
		return nil, err
	}
	if !s.IsValid() {
		return nil, ErrInvalidSession
	}
	v, err := f(old)
	if err != nil {
		return nil, err
	}
	if err := s.Set(name, v); err != nil {
		return nil, err
	}
	return v, nil
}

// MarkDirty records a change of attribute name made in place (a map or a struct behind
// a pointer), re-encoding its value so that the next save writes it.
func (s *Session) MarkDirty(name string) error {
	if s == nil {
		return delta.ErrNoSession
	}
	v, err := s.current(name)
	if err != nil || v == nil {
		return err
	}
	return s.Set(name, v)
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

// ChangeID gives the session a new random id (on login: session fixation protection)
// and returns it. The stored session moves to the new key at the next save. In the
// middleware it must be called before the response starts (ErrResponseCommitted
// after: the client's cookie could no longer learn the new id).
func (s *Session) ChangeID() (string, error) {
	var id string
	err := s.change(func() error {
		if s.idFixed {
			return ErrResponseCommitted
		}
		id = newID()
		s.id, s.base = id, 0
		return nil
	})
	return id, err
}

func (s *Session) find(name string) int {
	for i := range s.attrs {
		if s.attrs[i].name == name {
			return i
		}
	}
	return -1
}

// snapshot returns what Save writes at unix ms now: the session with the next version,
// the id it is stored under ("" if none) and the change count it reflects.
func (s *Session) snapshot(now int64) (delta.SessionState, string, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.valid {
		return delta.SessionState{}, "", 0, ErrInvalidSession
	}
	st := s.stateLocked(now)
	st.Attributes = make([]delta.NamedValue, len(s.attrs))
	for i, a := range s.attrs {
		st.Attributes[i] = delta.NamedValue{Name: a.name, Value: a.data}
	}
	return st, s.storedID, s.changes, nil
}

// stateLocked returns the session as Save writes it at unix ms now, without its
// attributes.
func (s *Session) stateLocked(now int64) delta.SessionState {
	st := s.rest
	st.ID, st.CreationTime, st.LastAccessedTime = s.id, s.created, now
	st.MaxInactive, st.IsNew, st.Version = s.maxInactive, s.isNew, s.version+1
	return st
}

// baseLocked returns the size of the session's stored encoding without attributes (its
// count of none included), as the limit MaxSessionSize counts it, so that Set refuses
// exactly what Save would: the attributes add size (attrSize each) and their count's
// longer encoding. The times it holds take as many bytes at the save as now (a
// millisecond clock keeps its varint length for millennia).
func (s *Session) baseLocked() (int, error) {
	if s.base == 0 {
		st := s.stateLocked(time.Now().UnixMilli())
		b, err := s.st.encode(&st, newID()) // every token is as long
		if err != nil {
			return 0, err
		}
		s.base = len(b) - versionLen
	}
	return s.base, nil
}

// attrSize is what an attribute takes in the stored encoding: its name and value, each
// after its length.
func attrSize(name string, data []byte) int {
	return uvarintLen(len(name)) + len(name) + uvarintLen(len(data)) + len(data)
}

func uvarintLen(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n))
}

// fixID makes ChangeID fail with ErrResponseCommitted from now on: the response that
// names the session's id in its cookie (or keeps the client's) has started.
func (s *Session) fixID() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idFixed = true
}

// saved records the end of a save of the snapshot taken at change count changes, which
// wrote it if ok, and reports whether s is still valid. Invalidate reads storedID under
// s.mu too: either it sees the new key and deletes it, or the save sees s invalid
// (Save).
func (s *Session) saved(id string, version uint64, now int64, changes uint64, ok bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok {
		s.storedID, s.version, s.accessed, s.savedChanges = id, version, now, changes
		s.base = 0 // the next version may take another byte
	}
	return s.valid
}
