package replmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
)

// Diffable is a value that replicates by its changes: Java's ReplicatedMapEntry with
// isDiffable true, as Tomcat's DeltaSession. Replicate sends a dirty Diffable's Diff to
// the entry's backup nodes, which apply it to the value they hold with ApplyDiff. The map
// calls these methods while the application may use the value: make them safe for
// concurrent use.
type Diffable interface {
	// Dirty reports whether the value changed since its last Diff (isDirty).
	Dirty() bool
	// Diff returns the changes since the last Diff and forgets them (getDiff and
	// resetDiff under the entry's lock). Put, and Replicate publishing an entry that
	// has no backup nodes, send a value in full and leave its changes as they are, as
	// Java's put does; when it is dirty then, the next Replicate sends it in full again
	// rather than a diff of changes the value sent may hold. When Diff returns an error,
	// Replicate returns it and the next Replicate sends the value in full, so that the
	// changes a failed Diff forgot are not lost.
	Diff() ([]byte, error)
	// ApplyDiff applies the bytes another node's Diff returned (applyDiff). The bytes
	// come from the network: bad ones must give an error, never a panic, and what a
	// diff can add should be bounded by the value itself, since a diff does not change
	// what the entry counts towards Config.MaxStoredBytes.
	ApplyDiff(diff []byte) error
}

// AccessReplicated is a value whose use, without changes, its primary tells the backup
// nodes about (Java's ReplicatedMapEntry isAccessReplicate, setLastTimeReplicated and
// accessEntry; Tomcat's DeltaSession, so that a backup knows the session is still in
// use). Its methods are called like Diffable's: make them safe for concurrent use.
type AccessReplicated interface {
	// AccessReplicate reports whether Replicate should send MSG_ACCESS for the value when
	// it has no changes to send (isAccessReplicate).
	AccessReplicate() bool
	// Replicated is called with the time Replicate sent a message about the value
	// (setLastTimeReplicated).
	Replicated(t time.Time)
	// Accessed is called on a node holding the value when its primary used it
	// (MSG_ACCESS) or another node became its primary (MSG_NOTIFY_MAPMEMBER)
	// (accessEntry), in order with the map's other calls, as Config.MadePrimary
	// (TestAccessedAndMadePrimaryInOrder).
	Accessed()
}

// ValueCodec converts between the values jserial reads and writes and the Go values the
// map holds, so that a value received in full becomes, for example, a Go type
// implementing Diffable (Config.Values).
type ValueCodec interface {
	// Decode returns the Go value to hold for v, a value received in full (MSG_BACKUP,
	// MSG_COPY, a state transfer's copy, a backup's reply to a Get) as jserial decoded it.
	Decode(v any) (any, error)
	// Encode returns what jserial marshals for v, a value the map holds, to send it in
	// full.
	Encode(v any) (any, error)
}

// ErrDiff is wrapped by the error of a received diff that the held value's ApplyDiff
// rejected.
var ErrDiff = errors.New("replmap: diff not applied")

// Replicate sends the changes of the entry under key to its backup nodes (Java's
// replicate(key, complete)): the backup in a lazy map, every copy holder in a
// replicated one. A Diffable value that is dirty, or any Diffable when complete is
// set, goes as its Diff (MSG_BACKUP or MSG_COPY with diff set); another value goes in
// full when complete is set; otherwise an AccessReplicated value whose AccessReplicate
// reports true goes as MSG_ACCESS (key, primary and backup nodes, no value), and other
// values not at all. Replicate does nothing when the local node is not the entry's
// primary, as in Java.
//
// Where Java does nothing or loses changes, Replicate departs from it so that a nil
// error means the changes are on the backup nodes: an entry without backup nodes while
// the map has members (its Put or Get found no member to take it), or whose backup nodes
// all left the map before it named them and were not replaced (the republish that
// replaces them gave up after 4 departures:
// TestReplicatePublishesAnEntryWhoseBackupNodesAllLeft), is first published in full as
// Put does, after a republish of the key under way such as a departure's
// (TestReplicateAndADeparturePassRepublishOneAfterTheOther), unless that republish gave
// it a backup node that is a map member (the changes then go there, the entry published
// once in all: the same test), and the error wraps
// ErrNoBackup when no member takes it; after a send
// failed (the Diff it sent is gone from the value), or a Diff failed (it may have
// forgotten changes it did not return: TestDiffErrorSendsInFullNext), the next
// Replicate sends the value in full, whatever complete says, and forgets its changes
// with a Diff. A change made while it marshals that value reaches the backup nodes
// once: when the value is dirty after its marshal, Replicate takes its Diff and
// marshals it again, a few times at most, and when it still changed, the next
// Replicate sends it in full again. When a Put replaced the entry before the message
// left, Replicate sends nothing of it and replicates the new entry instead
// (TestReplicateOfAReplacedEntrySendsNoStaleDiff); when a Remove dropped it before
// that check, nothing, also while it waited for a republish of the key, and it returns
// nil (TestReplicateOfARemovedEntrySendsNothing,
// TestRemoveWhileReplicateWaitsForTheDeparturePass).
func (m *Map) Replicate(ctx context.Context, key any, complete bool) error {
	k, err := keyOf(key)
	if err != nil {
		return err
	}
	if err := m.started(); err != nil {
		return err
	}
	m.mu.Lock()
	e := m.entries[k]
	if e == nil || e.role != rolePrimary {
		m.mu.Unlock()
		return nil
	}
	// No backup node is a map member: none, or only members that left before the entry
	// named them, where the republish that relocates it gave up
	// (TestReplicatePublishesAnEntryWhoseBackupNodesAllLeft).
	orphan := !m.anyMember(e.nodes) && len(m.members) > 0
	m.mu.Unlock()
	if orphan {
		// After a republish of the key under way (a departure's pass), which may have
		// given the entry a backup node: then it publishes nothing more (errNotOrphan),
		// and the changes go to that node below.
		nodes, err := m.republishKey(ctx, k, false, true, nil, 0)
		switch {
		case errors.Is(err, errNotOrphan):
			err = nil
		case err == nil && len(nodes) == 0:
			err = ErrNoBackup
		}
		if err != nil {
			return fmt.Errorf("replmap: replicate %v: %w", key, err)
		}
	}
	replaced, err := m.replicateOnce(ctx, k, key, complete, false)
	if !replaced {
		return err
	}
	// A Put replaced the entry: the new one is read and sent with the key's send lock
	// held throughout, so that no Put replaces it again meanwhile.
	l, err := m.lockKey(ctx, k)
	if err != nil {
		return fmt.Errorf("replmap: replicate %v: %w", key, err)
	}
	defer m.unlockKey(k, l)
	_, err = m.replicateOnce(ctx, k, key, complete, true)
	return err
}

// replicateOnce is one try of Replicate: it reads the entry under k and sends its
// changes, unless a Put replaced the entry before the send could leave (replaced). Its
// send and the Puts of the key hold the key's send lock (lockKey; held already with
// locked), so that a Put's messages and the Replicate's leave one after the other, and
// the Replicate of an entry replaced meanwhile sends nothing: the backup nodes converge
// to the value the node holds (TestConcurrentPutsOfOneKeyConverge). Replicate then
// tries again, which reads the new entry: a Put that replaced the entry while a
// Replicate read it has its value sent in full next (replicatedSinceLocked).
func (m *Map) replicateOnce(ctx context.Context, k string, key any, complete, locked bool) (replaced bool, err error) {
	m.mu.Lock()
	e := m.entries[k]
	if e == nil || e.role != rolePrimary || len(e.nodes) == 0 {
		m.mu.Unlock()
		return false, nil
	}
	value, nodes, failed := e.value, slices.Clone(e.nodes), e.failed
	e.sends++
	e.replicating++
	kr := m.keyReplicatesLocked(k)
	kr.reads++
	kr.running++
	full := failed > e.covered
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		e.replicating--
		kr.running--
		m.releaseKeyReplicatesLocked(k, kr)
		m.mu.Unlock()
	}()
	msg := &message{Type: msgBackup, Key: []byte(k), Primary: m.local(), Nodes: nodes}
	if m.cfg.Replicated {
		msg.Type = msgCopy
	}
	d, diffable := value.(Diffable)
	settled := true
	switch {
	case full:
		if msg.Value, settled, err = m.fullValue(key, value); err != nil {
			return false, err
		}
	case diffable && (complete || d.Dirty()):
		if msg.DiffValue, err = d.Diff(); err != nil {
			// The changes it dropped, if any, are in the value only: as after a
			// failed send, the next Replicate sends it in full.
			m.mu.Lock()
			e.failed++
			m.mu.Unlock()
			return false, fmt.Errorf("replmap: diff of %v: %w", key, err)
		}
		msg.Diff = true
	case complete:
		if msg.Value, err = m.marshalValue(value); err != nil {
			return false, err
		}
	default:
		a, ok := value.(AccessReplicated)
		if !ok || !a.AccessReplicate() {
			return false, nil
		}
		msg.Type = msgAccess
	}
	if a, ok := value.(AccessReplicated); ok {
		a.Replicated(time.Now())
	}
	var l *keyLock // nil when held already
	if !locked {
		if l, err = m.lockKey(ctx, k); err != nil {
			return false, fmt.Errorf("replmap: replicate %v: %w", key, err)
		}
	}
	m.mu.Lock()
	replaced = m.entries[k] != e
	if !replaced && msg.Type != msgAccess {
		// The value sent may have changed: a write of its own (stamp.go), whose stamp a
		// message in full carries (a diff's receivers no longer know theirs). Its clock
		// is the entry's, the publish's that made the node the primary: only the
		// backup nodes hear of a Replicate, and a larger clock would order it after
		// the writes of nodes that never heard of it (stamp.go).
		e.stamp = newStamp()
		msg.Stamp, msg.Clock = e.stamp, e.clock
	}
	m.mu.Unlock()
	if replaced {
		m.unlockKey(k, l)
		return true, nil
	}
	serr := m.send(ctx, nodes, msg)
	m.unlockKey(k, l)
	m.mu.Lock()
	switch {
	case serr != nil:
		e.failed++
	case full && settled && failed > e.covered:
		e.covered = failed
	}
	m.mu.Unlock()
	if serr != nil {
		return false, fmt.Errorf("replmap: replicate %v: %w", key, serr)
	}
	return false, nil
}

// maxFullMarshals bounds how often Replicate marshals a Diffable's value in full again
// because it changed while marshalled.
const maxFullMarshals = 3

// fullValue returns the serialization stream of value for a Replicate that sends it in
// full, and whether every change of a Diffable value up to its marshal is in the stream
// and none in its next Diff. For a Diffable it forgets the changes with a Diff (the full
// value holds them) and then marshals the value; a change made in between would be in
// the stream and in the next Diff as well, and applied twice on the backup nodes, so
// while the value is dirty after its marshal it does both again, up to maxFullMarshals
// times. When the value still changed the last time, settled is false: the stream is
// sent all the same, and the next Replicate sends the value in full again (a full value
// replaces the backup's, so that the change is applied once).
func (m *Map) fullValue(key, value any) (b []byte, settled bool, err error) {
	d, ok := value.(Diffable)
	if !ok {
		b, err = m.marshalValue(value)
		return b, true, err
	}
	for range maxFullMarshals {
		if _, err := d.Diff(); err != nil {
			return nil, false, fmt.Errorf("replmap: diff of %v: %w", key, err)
		}
		if b, err = m.marshalValue(value); err != nil {
			return nil, false, err
		}
		if !d.Dirty() {
			return b, true, nil
		}
	}
	return b, false, nil
}

// dirtyDiffable reports whether v is a Diffable with changes its next Diff holds. A
// primary that sent such a value in full (Put, a republish, a state transfer's copy, the
// answer to a MSG_RETRIEVE_BACKUP, a Get on the backup) has its next Replicate send it in
// full again: the changes may be in what it sent, and a diff of them would apply them
// twice there (TestFullValueOfDirtyDiffableNotFollowedByItsDiff). A republish, the
// answer to a MSG_RETRIEVE_BACKUP and a Get on the backup check before the marshal and
// after it: a Diff taken in between (a Replicate that read the entry before) leaves the
// value clean, the changes in the stream all the same
// (TestRepublishOfDirtyDiffableDiffedMeanwhileSentInFullNext).
func dirtyDiffable(v any) bool {
	d, ok := v.(Diffable)
	return ok && d.Dirty()
}

// fullSent has the next Replicate of e, the entry under k, send its value in full when
// it still is the local node's primary entry there (dirtyDiffable).
func (m *Map) fullSent(k string, e *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[k] == e && e.role == rolePrimary {
		e.failed++
	}
}

// answerSent is fullSent for the answer to a MSG_RETRIEVE_BACKUP, which read e's sends
// and replicating counts before its marshal: it also marks e when a Replicate was
// sending e's value then, or read it since. Such a Replicate may have taken the value's
// Diff before the marshal, leaving it clean, and its diff of changes the answer holds
// reach the asker after the answer (TestRetrieveBackupAnswerDuringReplicateSentInFullNext).
func (m *Map) answerSent(k string, e *entry, dirty bool, sends uint64, replicating int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[k] == e && e.role == rolePrimary && (dirty || replicating > 0 || e.sends != sends) {
		e.failed++
	}
}

// applyDiff applies a received diff to d, the value held under the message's key (nil
// when it is not a Diffable). A diff that is not applied leaves the value as it was, is
// counted and logged, rate-limited per sender; one that d rejects is an error wrapping
// ErrDiff.
func (m *Map) applyDiff(d Diffable, mm *message, from channel.Member) error {
	var err error
	if d != nil {
		if err = d.ApplyDiff(mm.DiffValue); err == nil {
			return nil
		}
		err = fmt.Errorf("replmap %q: %s from %s: %w: %w", m.cfg.Name, mm.Type, from.String(), ErrDiff, err)
	}
	return m.diffNotApplied(err, from)
}

// diffNotApplied counts a received diff that left the value as it was and logs it,
// rate-limited per sender; it returns err, the diff's error (nil for a held value that
// is not a Diffable).
func (m *Map) diffNotApplied(err error, from channel.Member) error {
	m.mu.Lock()
	m.diffsNotApplied++
	m.mu.Unlock()
	m.rlog.Log(slog.LevelWarn, from.String(), "diff", "replmap: diff not applied", "map", m.cfg.Name, "err", err)
	return err
}

// marshalValue returns the serialization stream of v, a value the map holds.
func (m *Map) marshalValue(v any) ([]byte, error) {
	if m.cfg.Values != nil {
		jv, err := m.cfg.Values.Encode(v)
		if err != nil {
			return nil, fmt.Errorf("replmap: encode value %T: %w", v, err)
		}
		v = jv
	}
	b, err := jserial.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("replmap: value %T: %w", v, err)
	}
	return b, nil
}

// decodeValue returns the Go value of a received serialization stream (nil for none).
func (m *Map) decodeValue(b []byte) (any, error) {
	v, err := m.codec.value(b)
	if err != nil || v == nil || m.cfg.Values == nil {
		return v, err
	}
	if v, err = m.cfg.Values.Decode(v); err != nil {
		return nil, fmt.Errorf("%w: value: %w", ErrBadMessage, err)
	}
	return v, nil
}
