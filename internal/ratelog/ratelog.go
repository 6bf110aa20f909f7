// Package ratelog logs repeated errors without flooding: for each (peer, kind) the first
// lines are written, later ones only counted, and a summary of what was counted is
// written once per interval. A peer that sends garbage in a loop costs a few log lines a
// minute, not one per packet. Each kind also has a budget of lines per interval across
// all peers (Config.MaxPerKind), so that a peer that names itself differently in each
// message (a source it claims, not the address it connects from) cannot write one line
// per message either.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultFirst    = 3
	DefaultInterval = time.Minute
	DefaultMaxKeys  = 1024
	// DefaultMaxPerKind is the lines of one kind written per interval, all peers together.
	DefaultMaxPerKind = 60
)

// allPeers names the summary of the lines of one kind that MaxPerKind kept back.
const allPeers = "(all peers)"

// overflowPeer stands for every peer once MaxKeys (peer, kind) pairs are tracked.
const overflowPeer = "(other peers)"

// Config configures a Limiter. The zero value is usable.
type Config struct {
	// Logger receives the lines. Nil discards them.
	Logger *slog.Logger
	// First is how many lines of one (peer, kind) are written before counting starts.
	// 0 means DefaultFirst.
	First int
	// Interval is how often a (peer, kind) that kept happening gets a summary line with
	// its count. 0 means DefaultInterval.
	Interval time.Duration
	// MaxKeys bounds the (peer, kind) pairs tracked; beyond it, new peers share one more
	// entry per kind (kinds are the caller's constants). 0 means DefaultMaxKeys.
	MaxKeys int
	// MaxPerKind bounds the lines of one kind written per Interval, whatever peer they
	// name (summaries included); beyond it lines are counted, and summarised once per
	// interval under the peer "(all peers)". 0 means DefaultMaxPerKind.
	MaxPerKind int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

type key struct{ peer, kind string }

// window is a kind's budget across peers (Config.MaxPerKind).
type window struct {
	logged     int
	suppressed uint64
	since      time.Time
}

type entry struct {
	logged     int       // lines written in this window
	suppressed uint64    // lines counted since the last summary
	since      time.Time // start of the window
}

// Limiter is a rate-limited logger. All methods are safe for concurrent use.
type Limiter struct {
	cfg     Config
	mu      sync.Mutex
	entries map[key]*entry
	kinds   map[string]*window // kinds are the caller's constants: bounded
	total   uint64
}

// New returns a Limiter for cfg.
func New(cfg Config) *Limiter {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.First <= 0 {
		cfg.First = DefaultFirst
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.MaxPerKind <= 0 {
		cfg.MaxPerKind = DefaultMaxPerKind
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{cfg: cfg, entries: map[key]*entry{}, kinds: map[string]*window{}}
}

// Log writes msg with args (and "peer", peer) at level, unless (peer, kind) already wrote
// its first lines in the current interval, or kind its MaxPerKind; then it counts it. The first occurrence after
// an interval in which lines were counted writes a summary with that count first. It
// reports whether msg was written.
func (l *Limiter) Log(level slog.Level, peer, kind, msg string, args ...any) bool {
	return l.LogFunc(level, peer, kind, msg, func() []any { return args })
}

// LogFunc is Log with arguments that args builds only when the line is written, so that a
// counted line costs no formatting or allocation.
func (l *Limiter) LogFunc(level slog.Level, peer, kind, msg string, args func() []any) bool {
	return l.record(level, peer, kind, msg, args, true)
}

// Count counts one line of (peer, kind) as not written, whatever its budget: for a line
// that belongs to an earlier one not written (the rest of an event whose first line was
// counted), which is then summarised with the lines Log counted. A summary that is due is
// written at level, as Log would.
func (l *Limiter) Count(level slog.Level, peer, kind string) {
	l.record(level, peer, kind, "", nil, false)
}

// record writes msg if may and (peer, kind) and kind have budget left, and counts it
// otherwise; it writes the summaries due first.
func (l *Limiter) record(level slog.Level, peer, kind, msg string, args func() []any, may bool) bool {
	now := l.cfg.Now()
	l.mu.Lock()
	k := key{peer, kind}
	e := l.entries[k]
	if e == nil {
		if len(l.entries) >= l.cfg.MaxKeys {
			l.pruneLocked(now)
		}
		if len(l.entries) >= l.cfg.MaxKeys {
			k.peer = overflowPeer
			e = l.entries[k]
		}
		if e == nil {
			e = &entry{since: now}
			l.entries[k] = e
		}
	}
	var summary uint64
	if now.Sub(e.since) >= l.cfg.Interval {
		summary = e.suppressed
		e.logged, e.suppressed, e.since = 0, 0, now
	}
	w := l.kinds[kind]
	if w == nil {
		w = &window{since: now}
		l.kinds[kind] = w
	}
	var kindSummary uint64
	if now.Sub(w.since) >= l.cfg.Interval {
		kindSummary = w.suppressed
		w.logged, w.suppressed, w.since = 0, 0, now
	}
	if summary > 0 {
		if w.logged < l.cfg.MaxPerKind {
			w.logged++
		} else {
			w.suppressed += summary // already counted in total
			summary = 0
		}
	}
	write := may && e.logged < l.cfg.First && w.logged < l.cfg.MaxPerKind
	switch {
	case write:
		e.logged++
		w.logged++
	case may && e.logged < l.cfg.First:
		w.suppressed++ // kept back by the kind's budget
		l.total++
	default:
		e.suppressed++
		l.total++
	}
	last := write && e.logged == l.cfg.First
	l.mu.Unlock()
	ctx := context.Background()
	if kindSummary > 0 {
		l.cfg.Logger.Log(ctx, level, "repeated error lines were not logged", "peer", allPeers, "kind", kind,
			"suppressed", kindSummary, "interval", l.cfg.Interval)
	}
	if summary > 0 {
		l.cfg.Logger.Log(ctx, level, "repeated error lines were not logged", "peer", k.peer, "kind", kind,
			"suppressed", summary, "interval", l.cfg.Interval)
	}
	if !write {
		return false
	}
	all := append([]any{"peer", peer}, args()...)
	if last {
		all = append(all, "further", "counted, summarised every "+l.cfg.Interval.String())
	}
	l.cfg.Logger.Log(ctx, level, msg, all...)
	return true
}

// pruneLocked forgets pairs whose window ended with nothing counted.
func (l *Limiter) pruneLocked(now time.Time) {
	for k, e := range l.entries {
		if e.suppressed == 0 && now.Sub(e.since) >= l.cfg.Interval {
			delete(l.entries, k)
		}
	}
}

// Flush writes a summary for every pair with lines counted and not yet summarised (call
// it when the component stops).
func (l *Limiter) Flush() {
	type pending struct {
		k key
		n uint64
	}
	var out []pending
	l.mu.Lock()
	for k, e := range l.entries {
		if e.suppressed > 0 {
			out = append(out, pending{k, e.suppressed})
			e.suppressed = 0
		}
	}
	for kind, w := range l.kinds {
		if w.suppressed > 0 {
			out = append(out, pending{key{allPeers, kind}, w.suppressed})
			w.suppressed = 0
		}
	}
	l.mu.Unlock()
	for _, p := range out {
		l.cfg.Logger.Warn("repeated error lines were not logged", "peer", p.k.peer, "kind", p.k.kind,
			"suppressed", p.n)
	}
}

// Suppressed returns how many lines were counted instead of written since the Limiter
// was created.
func (l *Limiter) Suppressed() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
