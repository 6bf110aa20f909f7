package redisstore

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/session/delta"
)

// Defaults, with the Tomcat (or memcached-session-manager) setting each one mirrors.
const (
	// DefaultKeyPrefix starts every key the store writes (msm's memcachedNodes have no
	// prefix; Redisson's keyPrefix is empty too, Spring Session's is
	// "spring:session:sessions:"). The key of a session is KeyPrefix + Name + ":" + id.
	DefaultKeyPrefix = "tribes:session:"
	// DefaultMaxInactiveInterval is a new session's idle timeout, which is the Redis TTL
	// of its key (Tomcat session-timeout, 30 minutes).
	DefaultMaxInactiveInterval = delta.DefaultMaxInactiveInterval
	// DefaultMaxValueSize bounds one encoded attribute value (no Tomcat equivalent).
	DefaultMaxValueSize = 256 << 10
	// DefaultMaxSessionSize bounds a whole stored session: what Set would make larger is
	// refused, and a stored value larger than this is not read (no Tomcat equivalent).
	DefaultMaxSessionSize = 1 << 20
	// DefaultMaxAttributes bounds the attributes of one session (no Tomcat equivalent).
	DefaultMaxAttributes = 1024
	// DefaultTimeout bounds each Redis round trip of a request (msm's
	// operationTimeout is 1000 ms; Redisson's timeout 3000 ms).
	DefaultTimeout = 2 * time.Second
)

// Config configures a Store. The zero value of every field except Client and Name means
// its default.
type Config struct {
	// Client is the Redis connection: a *redis.Client from github.com/redis/go-redis/v9
	// (redis.NewClient, or redis.NewFailoverClient for Sentinel). Required. The store does
	// not close it. Create it with ContextTimeoutEnabled, so that Timeout and the
	// request's context bound its socket reads and writes too; without it go-redis bounds
	// them by its ReadTimeout and WriteTimeout (3 s) only. A save writes several keys in
	// one script (the session's, the record of its saves and, after an id change, the old
	// key and a forward), and an invalidation may follow a forward to another session's
	// key: Redis Cluster refuses both (CROSSSLOT) unless the keys hash to one slot,
	// even on one node, so a Redis Cluster needs a hash tag in KeyPrefix (for example
	// "{tribes}:session:", which puts every session on one node); it is not tested.
	Client redis.Cmdable
	// Name identifies the application: sessions of different names never mix, even on
	// one Redis (Tomcat's context name, e.g. "localhost#/app"). Required; at most 4 KiB,
	// the limit of every string in a stored session.
	Name string
	// KeyPrefix starts every key. Empty means DefaultKeyPrefix.
	KeyPrefix string
	// MaxInactiveInterval is the idle timeout of new sessions: the TTL of their key,
	// renewed by every request that uses the session. 0 means
	// DefaultMaxInactiveInterval; negative means sessions never expire (keys without
	// TTL). At least one second.
	MaxInactiveInterval time.Duration
	// Codec encodes attribute values: delta.GobCodec (the default, nil) or
	// delta.JavaValueCodec.
	Codec delta.ValueCodec
	// MaxValueSize bounds one encoded attribute value. 0 means DefaultMaxValueSize.
	MaxValueSize int
	// MaxSessionSize bounds a whole encoded session. 0 means DefaultMaxSessionSize.
	MaxSessionSize int
	// MaxAttributes bounds the attributes of one session. 0 means DefaultMaxAttributes.
	MaxAttributes int
	// Timeout bounds each Redis call the store makes, within the caller's context (see
	// Client). 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives warnings (corrupt stored values, failed renewals). Nil discards them.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Client == nil {
		return fmt.Errorf("%w: Config.Client is required", ErrInvalidConfig)
	}
	if c.Name == "" {
		return fmt.Errorf("%w: Config.Name is required", ErrInvalidConfig)
	}
	if len(c.Name) > maxNameLen {
		return fmt.Errorf("%w: Config.Name of %d bytes exceeds the limit of %d", ErrInvalidConfig, len(c.Name), maxNameLen)
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.MaxInactiveInterval == 0 {
		c.MaxInactiveInterval = DefaultMaxInactiveInterval
	}
	if c.MaxInactiveInterval > 0 && c.MaxInactiveInterval < time.Second {
		return fmt.Errorf("%w: MaxInactiveInterval below one second", ErrInvalidConfig)
	}
	if c.Codec == nil {
		c.Codec = delta.GobCodec{}
	}
	if c.MaxValueSize < 0 || c.MaxSessionSize < 0 || c.MaxAttributes < 0 || c.Timeout < 0 {
		return fmt.Errorf("%w: negative MaxValueSize, MaxSessionSize, MaxAttributes or Timeout", ErrInvalidConfig)
	}
	if c.MaxValueSize == 0 {
		c.MaxValueSize = DefaultMaxValueSize
	}
	if c.MaxSessionSize == 0 {
		c.MaxSessionSize = DefaultMaxSessionSize
	}
	if c.MaxAttributes == 0 {
		c.MaxAttributes = DefaultMaxAttributes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Errors. Use errors.Is.
var (
	// ErrInvalidConfig wraps every configuration error.
	ErrInvalidConfig = errors.New("redisstore: invalid configuration")
	// ErrNotFound: no session is stored under the id (never was, expired, or invalidated).
	ErrNotFound = errors.New("redisstore: session not found")
	// ErrConflict: the session changed in Redis since it was loaded (a concurrent request
	// on another node saved it first), or was removed meanwhile (then ErrSessionGone too).
	// Nothing was written; the middleware answers 409 Conflict.
	ErrConflict = errors.New("redisstore: session was changed concurrently")
	// ErrSessionGone: the session was no longer in Redis when the request saved it:
	// another request invalidated it, or Redis lost it (a restart without persistence, a
	// failover to a replica that did not have it). An error wrapping it wraps ErrConflict
	// too: nothing was written, and the middleware answers 409 Conflict; a retry finds no
	// session. A session another request gave a new id is not gone: its save is a plain
	// ErrConflict.
	ErrSessionGone = errors.New("redisstore: session no longer exists")
	// ErrTooLarge: an attribute name (4 KiB), an attribute value or the whole session
	// exceeds its limit (Config.MaxValueSize, MaxSessionSize, MaxAttributes). The session
	// is unchanged.
	ErrTooLarge = errors.New("redisstore: session or value too large")
	// ErrCorrupt: the value stored under a session's key is not a session of this store
	// (malformed, over the limits, or another session's). The middleware treats the
	// session as missing.
	ErrCorrupt = errors.New("redisstore: stored session is corrupt")
	// ErrUnavailable wraps every failed Redis call (connection refused, timeout): the
	// middleware answers 503 Service Unavailable.
	ErrUnavailable = errors.New("redisstore: redis unavailable")
	// ErrInvalidSession: the session was invalidated.
	ErrInvalidSession = errors.New("redisstore: session is no longer valid")
	// ErrResponseCommitted: a session cannot be created, nor its id changed, once the
	// response has started, because the cookie could no longer reach the client.
	ErrResponseCommitted = errors.New("redisstore: response already started; create sessions and change ids before writing")
	// ErrNotSaved is returned by the response writer's Write after the session could not
	// be saved: the response was replaced by an error.
	ErrNotSaved = errors.New("redisstore: response withheld because the session could not be saved")
)

// LimitError is what a limit refused (errors.Is(err, ErrTooLarge)).
type LimitError struct {
	What  string // "attribute \"cart\"", "session", "attributes"
	Size  int    // the size (or count) refused
	Limit int
}

// Error says what was refused, its size and the limit.
func (e *LimitError) Error() string {
	return "redisstore: " + e.What + " of " + strconv.Itoa(e.Size) + " exceeds the limit of " + strconv.Itoa(e.Limit)
}

// Unwrap returns ErrTooLarge.
func (e *LimitError) Unwrap() error { return ErrTooLarge }
