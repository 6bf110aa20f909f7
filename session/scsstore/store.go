package scsstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/internal/gobcheck"
	"github.com/gotribes/tribes/session/delta"
)

// Config configures a Store.
type Config struct {
	// Manager keeps the sessions; required. Start it before serving requests. Its
	// Config.Replication, ClusterSize and codecs apply as they do to delta's middleware.
	Manager *delta.Manager
	// Attribute is the session attribute that holds scs's data. Default DefaultAttribute.
	Attribute string
	// ReadyTimeout bounds how long FindCtx waits for a manager whose state transfer is
	// still running, as delta.HTTPConfig.ReadyTimeout bounds the middleware's wait. 0
	// means delta.DefaultReadyTimeout (10 s); negative means not waiting.
	ReadyTimeout time.Duration
	// Check validates the bytes of a session before Find and All return them to scs,
	// which decodes them with its Codec: a session's bytes may come from any member. A
	// session whose bytes it refuses is not found (and counted, Stats.Malformed). nil
	// means CheckGob, for scs's default GobCodec; set it to a check of your Codec's
	// format if you change scs's Codec.
	Check func(b []byte) error
}

// CheckGob is the default Config.Check: it refuses a gob stream that is not one gob's
// encoder writes, or that announces more elements than it holds (encoding/gob sizes a
// map for the count it reads, so a session of 136 bytes announcing 2^22 entries made
// scs's GobCodec allocate 336 MB).
func CheckGob(b []byte) error {
	if err := gobcheck.Check(b); err != nil {
		return fmt.Errorf("scsstore: %w", err)
	}
	return nil
}

// Stats are a Store's counters.
type Stats struct {
	// Malformed counts the sessions whose bytes Config.Check refused when they were read.
	Malformed uint64
}

// DefaultAttribute is the default Config.Attribute.
const DefaultAttribute = "scs"

// Errors. Use errors.Is.
var (
	// ErrInvalidConfig wraps every configuration error of New.
	ErrInvalidConfig = errors.New("scsstore: invalid configuration")
	// ErrNotReady: the manager's state transfer did not end within Config.ReadyTimeout.
	ErrNotReady = errors.New("scsstore: the session manager is still receiving the cluster's sessions")
)

// headerLen is the length of the expiry that starts a stored value.
const headerLen = 8

// maxExpiry is the latest expiry a stored value holds (the year 2262): a later one is
// stored as it.
var maxExpiry = time.Unix(0, math.MaxInt64)

// Store is an scs.Store, scs.CtxStore, scs.IterableStore and scs.IterableCtxStore over
// a delta.Manager. Its methods are safe for concurrent use.
type Store struct {
	m         *delta.Manager
	attr      string
	ready     time.Duration
	check     func([]byte) error
	now       func() time.Time
	malformed atomic.Uint64
}

// Stats returns the store's counters.
func (st *Store) Stats() Stats { return Stats{Malformed: st.malformed.Load()} }

// New returns a Store over cfg.Manager.
func New(cfg Config) (*Store, error) {
	if cfg.Manager == nil {
		return nil, fmt.Errorf("%w: no Manager", ErrInvalidConfig)
	}
	if cfg.Attribute == "" {
		cfg.Attribute = DefaultAttribute
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = delta.DefaultReadyTimeout
	}
	if cfg.Check == nil {
		cfg.Check = CheckGob
	}
	return &Store{m: cfg.Manager, attr: cfg.Attribute, ready: cfg.ReadyTimeout, check: cfg.Check, now: time.Now}, nil
}

// Find is FindCtx without a context: it waits for the manager's state transfer up to
// Config.ReadyTimeout.
func (st *Store) Find(token string) ([]byte, bool, error) {
	return st.FindCtx(context.Background(), token)
}

// FindCtx returns the data scs committed under token, if the session exists on this node
// and has not expired. It waits for the manager's state transfer (up to
// Config.ReadyTimeout or ctx's end), and refuses to read while the manager does not
// serve sessions (delta.Manager.Serving).
func (st *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if err := st.serving(ctx); err != nil {
		return nil, false, err
	}
	s := st.m.Find(token)
	if s == nil {
		return nil, false, nil
	}
	b, ok := st.data(s)
	return b, ok, nil
}

// Commit is CommitCtx without a context.
func (st *Store) Commit(token string, b []byte, expiry time.Time) error {
	return st.CommitCtx(context.Background(), token, b, expiry)
}

// CommitCtx stores b under token until expiry and replicates it to the cluster: it
// creates the session if there is none, makes it primary here, and returns once the
// change was sent (acknowledged by every member, with delta.ReplicateAcked). An expiry
// that has passed deletes the session. ctx's cancellation does not abandon the send (see
// the package documentation).
func (st *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if expiry.After(maxExpiry) {
		expiry = maxExpiry // the stored expiry is in Unix nanoseconds
	}
	left := expiry.Sub(st.now())
	if left <= 0 {
		return st.DeleteCtx(ctx, token)
	}
	if err := st.m.Serving(); err != nil {
		return err
	}
	v := encodeValue(b, expiry)
	idle := left.Truncate(time.Second)
	if idle < left {
		idle += time.Second
	}
	ctx = context.WithoutCancel(ctx)
	for range 3 { // a session that expires or is invalidated meanwhile is made again
		s := st.m.Find(token)
		if s == nil {
			var err error
			if s, err = st.m.CreateWithID(ctx, token); errors.Is(err, delta.ErrSessionIDInUse) && st.m.Find(token) != nil {
				continue // created concurrently: set it
			} else if err != nil {
				return err
			}
		}
		s.Access()
		err := s.SetMaxInactiveInterval(idle)
		if err == nil {
			err = s.Set(st.attr, v)
		}
		if errors.Is(err, delta.ErrInvalidSession) {
			continue
		}
		if err != nil {
			return err
		}
		return st.m.Replicate(ctx, s)
	}
	return fmt.Errorf("scsstore: session %s was removed while it was being committed", token)
}

// Delete is DeleteCtx without a context.
func (st *Store) Delete(token string) error {
	return st.DeleteCtx(context.Background(), token)
}

// DeleteCtx invalidates the session on every node (EVT_SESSION_EXPIRED); a token without
// a session is not an error. ctx's cancellation does not abandon the send.
func (st *Store) DeleteCtx(ctx context.Context, token string) error {
	if err := st.m.Serving(); err != nil {
		return err
	}
	s := st.m.Find(token)
	if s == nil {
		return nil
	}
	if err := st.m.Invalidate(context.WithoutCancel(ctx), s); err != nil && !errors.Is(err, delta.ErrInvalidSession) {
		return err
	}
	return nil
}

// All is AllCtx without a context.
func (st *Store) All() (map[string][]byte, error) {
	return st.AllCtx(context.Background())
}

// AllCtx returns the data of every session on this node that has not expired, by token.
// It waits for the manager as FindCtx does.
func (st *Store) AllCtx(ctx context.Context) (map[string][]byte, error) {
	if err := st.serving(ctx); err != nil {
		return nil, err
	}
	all := map[string][]byte{}
	st.m.Range(func(s *delta.Session) bool {
		if b, ok := st.data(s); ok {
			all[s.ID()] = b
		}
		return ctx.Err() == nil
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return all, nil
}

// serving waits for the manager's state transfer and reports whether it serves sessions.
func (st *Store) serving(ctx context.Context) error {
	if !st.m.Ready() {
		if err := st.m.Serving(); errors.Is(err, delta.ErrStopped) {
			return err // not started, or stopped: no transfer to wait for
		}
		if st.ready < 0 {
			return ErrNotReady
		}
		wctx, cancel := context.WithTimeout(ctx, st.ready)
		err := st.m.WaitReady(wctx)
		cancel()
		var ste *delta.StateTransferError
		switch {
		case err == nil || errors.As(err, &ste): // a failed transfer: served as delta's middleware does
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			return ErrNotReady
		default:
			return err
		}
	}
	return st.m.Serving()
}

// data returns scs's bytes in s, if s is valid, holds them and has not expired.
func (st *Store) data(s *delta.Session) ([]byte, bool) {
	if !s.IsValid() {
		return nil, false
	}
	v, ok := s.Get(st.attr)
	if !ok {
		return nil, false
	}
	raw, ok := v.([]byte)
	if !ok {
		return nil, false
	}
	b, expiry, ok := decodeValue(raw)
	if !ok || !st.now().Before(expiry) {
		return nil, false
	}
	if err := st.check(b); err != nil {
		st.malformed.Add(1)
		return nil, false
	}
	return append([]byte(nil), b...), true // the caller's to keep: the session's value stays as it was
}

// encodeValue is the stored value of scs's bytes b and their expiry.
func encodeValue(b []byte, expiry time.Time) []byte {
	v := make([]byte, headerLen+len(b))
	binary.BigEndian.PutUint64(v, uint64(max(expiry.UnixNano(), 0)))
	copy(v[headerLen:], b)
	return v
}

// decodeValue splits a stored value into scs's bytes and their expiry. A value from
// another node may be anything: one shorter than the expiry is not a session of this
// store.
func decodeValue(v []byte) (b []byte, expiry time.Time, ok bool) {
	if len(v) < headerLen {
		return nil, time.Time{}, false
	}
	ns := binary.BigEndian.Uint64(v)
	if ns > 1<<63-1 {
		return nil, time.Time{}, false
	}
	return v[headerLen:], time.Unix(0, int64(ns)), true
}
