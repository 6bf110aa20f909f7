package replmap

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/gotribes/tribes/channel"
)

// Defaults of Config's limits on what the other map members can make a map hold (Java's
// maps have none).
const (
	// DefaultMaxEntries is Config.MaxEntries: entries of every kind (primaries, backups,
	// proxies, copies).
	DefaultMaxEntries = 1 << 18
	// DefaultMaxStoredBytes is Config.MaxStoredBytes: the key and value serialization
	// streams and the recorded members of every entry together.
	DefaultMaxStoredBytes = 1 << 30
	// DefaultMaxForwardQueue is Config.MaxForwardQueue: the forwarded removals queued
	// for one backup node.
	DefaultMaxForwardQueue = 1 << 14
	// DefaultMaxForwarders is Config.MaxForwarders: the goroutines sending forwarded
	// removals together.
	DefaultMaxForwarders = 8
)

// ErrLimit is wrapped by the error of a received message or state-transfer entry the map
// refused because it would pass Config.MaxEntries or Config.MaxStoredBytes.
var ErrLimit = errors.New("replmap: map limit reached")

// ErrStateTooLarge is wrapped by the error a joiner logs when the reply to its state
// transfer, which carries every entry of the donor in one message, was larger than it
// accepts: beyond its transport's frame limit (the error also wraps
// channel.ErrMessageTooLarge) or Config.MaxMessageBytes (jserial.ErrLimit). The joiner
// starts without the state; the error names both settings to raise.
var ErrStateTooLarge = errors.New("replmap: the state transfer's reply is larger than this node accepts")

// Stats are a map's counters.
type Stats struct {
	// Entries is the number of entries the map holds, proxies included.
	Entries int
	// StoredBytes is what they count towards MaxStoredBytes: their key and value
	// serialization streams and the wire size of the members they record.
	StoredBytes int64
	// RefusedOverLimit counts the received messages and state-transfer entries refused
	// with ErrLimit (the entries of a state transfer beyond MaxEntries count as one).
	RefusedOverLimit uint64
	// DiffsNotApplied counts the received diffs (MSG_BACKUP or MSG_COPY with diff set)
	// that left the held value as it was: it is not a Diffable (or there is none), or
	// its ApplyDiff returned an error.
	DiffsNotApplied uint64
	// RefusedNonMember counts the plain map messages (of any map on the channel: they are
	// dropped before decoding) and the MSG_STATE, MSG_STATE_COPY and MSG_RETRIEVE_BACKUP
	// requests of this map refused because their sender is not a member of the channel,
	// which delivers them when configured with AcceptNonMembers.
	RefusedNonMember uint64
	// RefusedStopped counts the plain map messages refused with ErrMemberStopped: they
	// came from a member after its MSG_STOP and would have changed an entry.
	RefusedStopped uint64
	// ForwardedRemovesFailed counts the removals this node forwards to a primary's backup
	// nodes (a MSG_REMOVE naming it the primary, once another member's MSG_REMOVE dropped
	// the primary it held) whose send to one of them failed, one per backup node; each
	// is also logged, rate-limited per backup node.
	ForwardedRemovesFailed uint64
	// ForwardedRemovesDropped counts those removals not sent because the backup node's
	// queue held Config.MaxForwardQueue removals not sent yet, one per backup node: that
	// node may keep the backup or proxy of the removed key (see the package
	// documentation).
	ForwardedRemovesDropped uint64
	// OlderIgnored counts the received MSG_BACKUP, MSG_COPY and MSG_PROXY not applied
	// because they publish a value older than the one the entry names: their write's
	// clock and stamp, which Go nodes carry, come before its (see the package
	// documentation).
	OlderIgnored uint64
}

// Stats returns the map's counters.
func (m *Map) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Entries: len(m.entries), StoredBytes: m.stored, RefusedOverLimit: m.refused,
		DiffsNotApplied: m.diffsNotApplied, RefusedNonMember: m.nonMember,
		RefusedStopped: m.refusedStopped, ForwardedRemovesFailed: m.forwards.failed,
		ForwardedRemovesDropped: m.forwards.dropped, OlderIgnored: m.olderIgnored}
}

// admit checks, m.mu held, that a received message may make the entry under k (nil when
// there is none) size bytes large: a new entry needs room for one more entry and its
// bytes, an existing one only for what it grows by. A refusal is counted
// and logged, rate-limited per sender.
func (m *Map) admit(k string, e *entry, size int64, mm *message, from channel.Member) error {
	var err error
	switch grow := size - e.sizeOrZero(); {
	case e == nil && len(m.entries) >= m.cfg.MaxEntries:
		err = fmt.Errorf("%w: %d entries (MaxEntries)", ErrLimit, m.cfg.MaxEntries)
	case grow > 0 && m.stored+grow > m.cfg.MaxStoredBytes:
		err = fmt.Errorf("%w: %d + %d bytes of keys, values and members, at most %d (MaxStoredBytes)",
			ErrLimit, m.stored, grow, m.cfg.MaxStoredBytes)
	default:
		return nil
	}
	m.refused++
	m.rlog.Log(slog.LevelWarn, from.String(), "limit", "replmap: entry refused",
		"map", m.cfg.Name, "type", mm.Type.String(), "key bytes", len(k), "err", err)
	return fmt.Errorf("replmap %q: %s from %s: %w", m.cfg.Name, mm.Type, from.String(), err)
}

func (e *entry) sizeOrZero() int64 {
	if e == nil {
		return 0
	}
	return e.size
}

func (e *entry) valueBytes() int64 {
	if e == nil {
		return 0
	}
	return e.vbytes
}

// entrySize is what an entry counts towards MaxStoredBytes: its key's stream k, its
// value's stream of vbytes bytes, and the wire size of the members it records (a proxy
// of 1024 large members costs their bytes, not nothing).
func entrySize(k string, vbytes int64, primary *channel.Member, nodes []channel.Member) int64 {
	n := int64(len(k)) + vbytes
	if primary != nil {
		n += int64(primary.EncodedLen())
	}
	for i := range nodes {
		n += int64(nodes[i].EncodedLen())
	}
	return n
}

// account sets the size of e, the entry under k, after its value or members changed.
func (m *Map) account(k string, e *entry) {
	m.resize(e, entrySize(k, e.vbytes, e.primary, e.nodes))
}

// store puts e under k, m.mu held, keeping the stored bytes.
func (m *Map) store(k string, e *entry) {
	m.stored += e.size - m.entries[k].sizeOrZero()
	if old := m.entries[k]; old != e {
		m.unkeepLocked(old)
	}
	m.entries[k] = e
	delete(m.keptSince, k) // a new entry: nothing kept or marked yet (kept.go)
}

// drop deletes the entry under k, m.mu held, keeping the stored bytes.
func (m *Map) drop(k string) {
	m.stored -= m.entries[k].sizeOrZero()
	m.unkeepLocked(m.entries[k])
	delete(m.entries, k)
	delete(m.keptSince, k)
}

// resize sets the size of e, an entry of the map, m.mu held.
func (m *Map) resize(e *entry, size int64) {
	m.stored += size - e.size
	e.size = size
}
