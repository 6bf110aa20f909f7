package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/session/delta"
)

// Store keeps sessions in Redis: one key per session, whose value is the whole session
// (see the package documentation, "Stored format") and whose TTL is its max inactive
// interval. Every method is safe for concurrent use; a Store holds no session in
// memory, so any number of nodes may share one Redis.
type Store struct {
	cfg Config
}

// New checks cfg and returns a store. It does not contact Redis (see Ping).
func New(cfg Config) (*Store, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if c, ok := cfg.Client.(*redis.Client); ok && !c.Options().ContextTimeoutEnabled {
		cfg.Logger.Info("redisstore: the Redis client ignores context deadlines in socket I/O "+
			"(redis.Options.ContextTimeoutEnabled is off): its ReadTimeout and WriteTimeout bound each call, not Config.Timeout",
			"readTimeout", c.Options().ReadTimeout, "timeout", cfg.Timeout)
	}
	return &Store{cfg: cfg}, nil
}

// Key returns the Redis key of session id.
func (st *Store) Key(id string) string { return st.cfg.KeyPrefix + st.cfg.Name + ":" + id }

// Ping checks that Redis answers.
func (st *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, st.cfg.Timeout)
	defer cancel()
	return unavailable(st.cfg.Client.Ping(ctx).Err())
}

// unavailable wraps the error of a Redis call: ErrCorrupt for a key of another type
// than a string (WRONGTYPE: something else wrote it), ErrUnavailable otherwise.
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "WRONGTYPE") {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// NewSession returns a new session with a random id, not stored until Save.
func (st *Store) NewSession() *Session {
	now := time.Now().UnixMilli()
	return &Session{st: st, id: newID(), created: now, accessed: now, isNew: true, valid: true,
		maxInactive: st.defaultMaxInactive()}
}

func (st *Store) defaultMaxInactive() int32 {
	if st.cfg.MaxInactiveInterval < 0 {
		return -1
	}
	return int32(min(st.cfg.MaxInactiveInterval/time.Second, 1<<31-1))
}

// newID returns 16 bytes from crypto/rand as upper-case hex (Tomcat's session id format,
// without a jvmRoute: a store needs no stickiness).
func newID() string {
	const hex = "0123456789ABCDEF"
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // never fails since Go 1.24
	b := make([]byte, 0, 32)
	for _, c := range raw {
		b = append(b, hex[c>>4], hex[c&0x0f])
	}
	return string(b)
}

// loadScript returns the first ARGV[1]+1 bytes of the value of KEYS[1] (GETRANGE's end
// is inclusive): one byte more than a session of the store's limits takes, so that a
// larger value (up to Redis's 512 MB, written by something else) is known to be too
// large without crossing the network. A missing key is 0 (an integer: a Lua false
// would reach a RESP3 client as a boolean). A key that expires in less than ARGV[2]
// milliseconds is given that long (loadGrace; "0": none).
var loadScript = redis.NewScript(`
local v = redis.call('GETRANGE', KEYS[1], 0, ARGV[1])
if v == '' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= 0 and ttl < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
`)

// loadGrace is how long at least a session stays in Redis after the middleware loaded
// it for a request: the load counts as an access, as the start of a request in Tomcat,
// so that a session loaded just before its idle time ran out is not removed under the
// request using it (its save would fail with ErrConflict, and its renewal would find
// nothing). The save or renewal (Touch) when the response starts sets the session's
// own interval again; a session whose request did neither (its handler panicked) may
// outlive its interval by up to loadGrace. A key without TTL (a session that never
// expires) keeps none. Store.Load does not extend the TTL.
const loadGrace = time.Minute

// Load reads session id. It returns an error wrapping ErrNotFound when there is none,
// ErrCorrupt when the stored value is not a session of this store, ErrUnavailable when
// Redis does not answer. Its LastAccessedTime is the stored one (its last save); the
// access of this request is stored by Save (Touch renews the TTL only). Load changes
// nothing in Redis (the middleware's load also extends a session's TTL: loadGrace).
func (st *Store) Load(ctx context.Context, id string) (*Session, error) { return st.load(ctx, id, 0) }

// load is Load, which also extends a TTL shorter than grace to grace.
func (st *Store) load(ctx context.Context, id string, grace time.Duration) (*Session, error) {
	ctx, cancel := context.WithTimeout(ctx, st.cfg.Timeout)
	defer cancel()
	// The most a session's value takes; a MaxSessionSize near math.MaxInt (no limit) must
	// not overflow into a negative GETRANGE end, which Redis counts from the value's end.
	limit := versionLen + min(st.cfg.MaxSessionSize, math.MaxInt-versionLen)
	res, err := loadScript.Run(ctx, st.cfg.Client, []string{st.Key(id)}, limit, grace.Milliseconds()).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	value, ok := res.(string)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if len(value) > limit {
		return nil, fmt.Errorf("%w: the stored value exceeds MaxSessionSize %d", ErrCorrupt, st.cfg.MaxSessionSize)
	}
	if _, moved := forwardOf(value); moved {
		return nil, fmt.Errorf("%w: %s (its id was changed)", ErrNotFound, id)
	}
	state, err := st.decode(id, []byte(value))
	if err != nil {
		return nil, err
	}
	s := &Session{st: st, id: id, storedID: id, version: state.Version, created: state.CreationTime,
		accessed: state.LastAccessedTime, maxInactive: state.MaxInactive, valid: true, rest: *state}
	s.rest.Attributes = nil
	s.attrs = make([]attr, len(state.Attributes))
	for i, nv := range state.Attributes {
		s.attrs[i] = attr{name: nv.Name, data: nv.Value}
		s.size += attrSize(nv.Name, nv.Value)
	}
	return s, nil
}

// saveScript writes a session if the stored one is the version it was loaded from
// (compare and set). KEYS[1] is the key it was loaded from, KEYS[2] the key to write
// (another one after an id change: the old key is then deleted and KEYS[4], its
// movedKey, holds a forward to the new id, ARGV[4], for ARGV[5] milliseconds; see
// moved.go), KEYS[3] the record of KEYS[2]'s saves (savesKey). ARGV[1] is the expected
// version (8 bytes; empty: the session is new and its key must not exist), ARGV[2] the
// value, ARGV[3] the TTL in milliseconds ("0": none), ARGV[6] the save's token, ARGV[7]
// the record's TTL in milliseconds, ARGV[8] the most tokens it keeps. It returns 1 when
// written, 0 when the stored version differs (a forward in the value's is 0) or the new
// key is taken, -2 when another save renamed the session (KEYS[1] is gone, and its
// forward names a key, under the store's prefix ARGV[9], that exists), -1 when the
// session is gone.
//
// It is idempotent: if the record holds its token, this very call ran before (a resend
// by go-redis after a lost reply, see saves.go) and it returns 1 without writing, even
// if the session was saved again or removed since. The token is random for every
// encoding, so no other save finds it, not even one of an equal session in the same
// millisecond (two requests that both counted from 1 to 2: the second must still
// conflict). A record of another type than a list (not written by this store) is
// replaced.
var saveScript = redis.NewScript(`
local max = tonumber(ARGV[8])
local record = redis.call('TYPE', KEYS[3]).ok
if record == 'list' then
  for _, t in ipairs(redis.call('LRANGE', KEYS[3], 0, max - 1)) do
    if t == ARGV[6] then return 1 end
  end
end
if ARGV[1] == '' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
else
  local cur = redis.call('GETRANGE', KEYS[1], 0, 7)
  if cur == '' then
    if redis.call('TYPE', KEYS[4]).ok == 'string' and redis.call('STRLEN', KEYS[4]) <= 256 then
      local to = redis.call('GET', KEYS[4])
      if string.match(to, '^[A-Za-z0-9._-]+$') and redis.call('EXISTS', ARGV[9] .. to) == 1 then return -2 end
    end
    return -1
  end
  if cur ~= ARGV[1] then return 0 end
  if KEYS[1] ~= KEYS[2] then
    if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
    redis.call('DEL', KEYS[1])
    redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[5])
  end
end
if ARGV[3] ~= '0' then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[2], ARGV[2])
end
if record ~= 'list' and record ~= 'none' then redis.call('DEL', KEYS[3]) end
redis.call('LPUSH', KEYS[3], ARGV[6])
redis.call('LTRIM', KEYS[3], 0, max - 1)
redis.call('PEXPIRE', KEYS[3], ARGV[7])
return 1
`)

// Save writes s to Redis if nobody saved it since it was loaded (or, for a new session,
// if its id is free), with the next version, LastAccessedTime now and the TTL of its max
// inactive interval; after ChangeID it moves the session to its new key. It returns an
// error wrapping ErrConflict when another save came first (s is then left as it was:
// load the session again to retry; ErrSessionGone too if the session is no longer in
// Redis), ErrTooLarge when s exceeds Config.MaxSessionSize,
// ErrUnavailable when Redis does not answer (the write may or may not have happened),
// ErrInvalidSession for an invalidated session, delta.ErrNoSession for a nil one. A save
// that returned nil is in Redis, unless s was invalidated while it ran: the invalidation
// wins, and what the save wrote is deleted (TestInvalidateDuringSave).
func (st *Store) Save(ctx context.Context, s *Session) error {
	if s == nil {
		return delta.ErrNoSession
	}
	now := time.Now().UnixMilli()
	state, from, changes, err := s.snapshot(now)
	if err != nil {
		return err
	}
	token := newID()
	data, err := st.encode(&state, token)
	if err != nil {
		return err
	}
	var expect []byte
	if from == "" {
		from = state.ID
	} else {
		expect = binary.BigEndian.AppendUint64(nil, state.Version-1)
	}
	ttl := "0"
	if state.MaxInactive > 0 {
		ttl = strconv.FormatInt(int64(state.MaxInactive)*1000, 10)
	}
	ctx, cancel := context.WithTimeout(ctx, st.cfg.Timeout)
	defer cancel()
	r, err := saveScript.Run(ctx, st.cfg.Client, []string{st.Key(from), st.Key(state.ID), st.savesKey(state.ID), st.movedKey(from)},
		expect, data, ttl, state.ID, movedTTL.Milliseconds(), token, st.saveRecordTTL().Milliseconds(),
		maxSaveRecords, st.Key("")).Int()
	if err != nil {
		return unavailable(err)
	}
	if !s.saved(state.ID, state.Version, now, changes, r == 1) {
		// Invalidated (Invalidate, by another goroutine) while the script ran: the
		// invalidation wins. It deleted what was stored when it ran; what this save wrote
		// after it (a session never saved had no key yet) is deleted here.
		if r == 1 {
			return st.Delete(ctx, state.ID)
		}
		return nil
	}
	switch r {
	case 1:
		return nil
	case -1:
		return &goneError{id: from}
	case -2:
		// Renamed by another request (a login in another tab): the session exists under
		// its new id, which that request's cookie gave the client; a retry applies
		// (TestSaveAfterConcurrentRenameIsNotSessionGone).
		return fmt.Errorf("%w: session %s was given a new id by another request since version %d", ErrConflict, from, state.Version-1)
	default:
		return fmt.Errorf("%w: session %s was saved by another request since version %d", ErrConflict, from, state.Version-1)
	}
}

// goneError is the error of a save that found no session to replace: ErrSessionGone, an
// ErrConflict.
type goneError struct{ id string }

func (e *goneError) Error() string {
	return "redisstore: session " + e.id + " was removed meanwhile and no longer exists " +
		"(invalidated by another request, expired, or lost by Redis: a restart without persistence)"
}

func (e *goneError) Unwrap() []error { return []error{ErrSessionGone, ErrConflict} }

// touchScript renews the TTL of KEYS[1] to ARGV[2] milliseconds if the stored version
// is still ARGV[1] (8 bytes): a request that saved the session since (another interval,
// or none) set its TTL, which an older copy must not undo.
var touchScript = redis.NewScript(`
if redis.call('GETRANGE', KEYS[1], 0, 7) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`)

// Touch renews the TTL of s's key without writing it, for a request that only read s,
// if the stored session is still the version s was loaded from (a session saved since
// keeps the TTL its save set). A session that is gone is not an error (there is nothing
// to renew). A nil s is delta.ErrNoSession.
func (st *Store) Touch(ctx context.Context, s *Session) error {
	if s == nil {
		return delta.ErrNoSession
	}
	s.mu.Lock()
	id, mi, version := s.storedID, s.maxInactive, s.version
	s.mu.Unlock()
	if id == "" || mi <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, st.cfg.Timeout)
	defer cancel()
	expect := binary.BigEndian.AppendUint64(nil, version)
	ttl := strconv.FormatInt(int64(mi)*1000, 10)
	return unavailable(touchScript.Run(ctx, st.cfg.Client, []string{st.Key(id)}, expect, ttl).Err())
}

// Invalidate removes s from Redis (if it was stored) and marks it invalid. Invalidation
// wins over concurrent saves of older versions: they fail with ErrConflict; and over a
// concurrent id change: the session under its new id is removed too (Delete); and over a
// save of s itself under way (Save removes what it wrote, even for a session never saved
// before). A nil s is delta.ErrNoSession.
func (st *Store) Invalidate(ctx context.Context, s *Session) error {
	if s == nil {
		return delta.ErrNoSession
	}
	s.mu.Lock()
	id := s.storedID
	s.valid = false
	s.mu.Unlock()
	if id == "" {
		return nil
	}
	return st.Delete(ctx, id)
}

// encodeValue encodes v for attribute name, within MaxValueSize, and checks that it
// decodes to the same Go type, so that every node reads back what this one stored.
func (st *Store) encodeValue(name string, v any) ([]byte, error) {
	typ := fmt.Sprintf("%T", v)
	data, err := st.cfg.Codec.Marshal(v)
	if err != nil {
		return nil, &delta.ValueError{Name: name, Type: typ, Err: err}
	}
	if len(data) > st.cfg.MaxValueSize {
		return nil, &LimitError{What: fmt.Sprintf("attribute %q", name), Size: len(data), Limit: st.cfg.MaxValueSize}
	}
	back, err := st.cfg.Codec.Unmarshal(data)
	if err != nil {
		return nil, &delta.ValueError{Name: name, Type: typ, Err: fmt.Errorf("%w: it does not decode: %w", delta.ErrValueNotReplicable, err)}
	}
	if got := fmt.Sprintf("%T", back); got != typ {
		return nil, &delta.ValueError{Name: name, Type: typ, Err: fmt.Errorf("%w: it reads back as %s", delta.ErrValueNotReplicable, got)}
	}
	return data, nil
}
