package replmap

import (
	"context"
	"fmt"
)

// Put stores value under key and returns the previous value (nil if none). The local
// node becomes the entry's primary: a previous entry is removed everywhere (MSG_REMOVE),
// the next map member in turn gets a backup copy (MSG_BACKUP) and the others a proxy
// (MSG_PROXY). Key and value are what jserial marshals (strings, numbers, []byte, []any,
// *jserial.Map, *jserial.Object, ...); keys are equal when their serialization streams
// are. A value the map cannot send to any backup stays local (and is published when a
// map member joins, as in Java, or by the next Replicate); the error then wraps
// ErrNoBackup and says which members failed. When the backup leaves the map before Put
// recorded it, Put picks another one (TestPutWhileBackupLeaves), after a republish of
// the key under way (a departure's pass, a Replicate's); when ctx ends while it waits
// for that, Put returns an error wrapping ctx's, the node holding the value without a
// backup until the next Replicate publishes it
// (TestPutWhoseBackupLeftWaitsForAnotherRepublishOfTheKey). So does a Put made while a
// republish of the key runs (a departure's pass, which may have read the entry the Put
// replaces and send its MSG_PROXY after the Put's MSG_BACKUP, turning the Put's backup
// into a proxy): it publishes its value again once that republish ended, and returns
// nil only then (TestPutDuringTheDeparturePassOfTheEntryItReplaces). A departure pass
// of the entry on its primary, another node, whose MSG_PROXY reaches the node after the
// Put stored its entry makes it a proxy that keeps the Put's value, and, stepping aside
// for the Put, has the node take the entry back (kept.go;
// TestPutOnAThirdNodeDuringTheDeparturePass). A Put of a Diffable
// value while a Replicate of the key sends (the same value's Diff, taken before or after
// Put marshals it), of the entry the Put replaces or of one a Remove dropped before,
// has the next Replicate send the value in full: that diff may reach the backup before
// the value or after it, losing its changes or applying them twice there
// (TestPutDuringReplicateOfTheSameDiffableSentInFullNext,
// TestPutAfterRemoveDuringReplicateOfTheSameDiffableSentInFullNext). A node's Puts of
// one key run one at a time, and their messages do not overlap a Replicate's of the key
// (lockKey): the backup ends with the value of the last one (TestConcurrentPutsOfOneKeyConverge).
// A Put made while a Remove of the key on the node is under way (its MSG_REMOVE may reach
// a member after the Put's MSG_BACKUP) waits until no Remove of the key is, and then
// stores its value after them (TestPutDuringAStuckRemoveStoresAfterIt); when ctx ends
// first it returns ctx's error, having stored and sent nothing
// (TestPutWaitingForAStuckRemoveEndsWithItsContext), and when the map stopped meanwhile,
// an error wrapping ErrNotStarted, where it stored its value in the stopped map and
// returned nil (TestPutWaitingForAStuckRemoveWhenTheMapStops). A Remove of the key on the node
// made while the Put sends comes after it: the Put stores no entry, sends MSG_REMOVE
// again so that the members drop the backup copy and proxies it sent, and returns its
// old value and nil (an error when that MSG_REMOVE fails), and no node holds the key
// after both, where the Remove's MSG_REMOVE could drop the backup's copy before the Put
// stored its entry, leaving the node the primary of a value no other node held
// (TestRemoveDuringAPutLeavesNoUnbackedEntry). So does a MSG_REMOVE of the key from
// another node that reaches the node while the Put sends, before its store
// (TestRemoveOnAnotherNodeDuringAPutLeavesTheNodesAgreeing), unless that node's
// MSG_BACKUP or MSG_PROXY of the key follows it before the store: that is the node's Put
// replacing the key, and the Put stores its entry, where both Puts' values were lost; a
// Get of the key on every node then returns one of them, two nodes possibly each the
// primary of its own (TestPutOnAnotherNodeDuringAPutKeepsAValue). A Put of the other
// node whose MSG_BACKUP or MSG_PROXY reaches the node only after the store is taken for a
// Remove: a MSG_REMOVE holds only the key (Java's put sends the same), and the Put cannot
// wait for a publish that a Remove never sends. With synchronized-ack SendOptions its
// MSG_REMOVE sent again then reaches the other node while that Put sends, which does the
// same: both return nil and no node holds the key
// (TestPutOnAnotherNodeWhosePublishComesAfterTheStoreLosesBothValues). Java orders none
// of these.
func (m *Map) Put(ctx context.Context, key, value any) (old any, err error) {
	k, err := keyOf(key)
	if err != nil {
		return nil, err
	}
	vb, err := m.marshalValue(value)
	if err != nil {
		return nil, err
	}
	if err := m.started(); err != nil {
		return nil, err
	}
	l, err := m.lockKey(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("replmap: put %v: %w", key, err)
	}
	defer m.unlockKey(k, l)
	m.mu.Lock()
	kr := m.keyReplicatesLocked(k)
	kr.watchers++
	// A Remove of the key under way on the node (its MSG_REMOVE may still reach a member
	// after this Put's MSG_BACKUP): the Put waits until none is, and comes after them.
	waited := false
	for kr.removing > 0 {
		waited = true
		if kr.removed == nil {
			kr.removed = make(chan struct{})
		}
		removed := kr.removed
		m.mu.Unlock()
		select {
		case <-removed:
		case <-ctx.Done():
			m.mu.Lock()
			kr.watchers--
			m.releaseKeyReplicatesLocked(k, kr)
			m.mu.Unlock()
			return nil, fmt.Errorf("replmap: put %v: waiting for a Remove of the key: %w", key, ctx.Err())
		}
		m.mu.Lock()
	}
	if waited && m.state == stateDestroyed {
		// Stopped while the Put waited: it stores and sends nothing, as after Stop.
		kr.watchers--
		m.releaseKeyReplicatesLocked(k, kr)
		m.mu.Unlock()
		return nil, fmt.Errorf("replmap: put %v: the map stopped while it waited for a Remove of the key: %w", key, ErrNotStarted)
	}
	running, reads, removes := kr.running, kr.reads, kr.removes
	// A republish of the key under way (a departure's pass) may have read the entry this
	// Put replaces, and its MSG_PROXY of that entry reach the Put's backup after the
	// Put's MSG_BACKUP, turning it into a proxy: no member would hold the value until
	// the republish publishes the Put's entry in turn. Such a Put publishes its entry
	// again once the republish ended (below).
	republishing, republishes := m.republishing[k] != nil, kr.republishes
	kr.removers = kr.removers[:0] // this Put is the key's only watcher: it holds the key lock
	// The entry replaced may be republished by its primary's departure pass (kept.go).
	passOf := m.passOfLocked(m.entries[k])
	// The Put's write is newer than any the map heard of (stamp.go): the clock of the
	// entry it replaces included. Its MSG_REMOVE drops the entries of the other Go
	// nodes first, whatever their clock. Without one (the node held no entry of the key)
	// other nodes may hold entries of writes the node never heard of, of larger clocks:
	// the publish is unordered, applied whatever their clock
	// (TestPutOfANodeHoldingNoEntryAppliedOverEntriesItNeverHeardOf).
	clock := m.tickLocked()
	m.mu.Unlock()
	old, removeSent, err := m.remove(ctx, k, key, false)
	e := &entry{key: key, value: value, primary: m.local(), vbytes: int64(len(vb)), passOf: passOf, stamp: newStamp(),
		clock: clock}
	nodes, perr := m.publish(ctx, key, value, e.stamp, e.clock, !removeSent)
	e.nodes = nodes
	e.size = entrySize(k, e.vbytes, e.primary, e.nodes)
	_, diffable := value.(Diffable)
	dirty := dirtyDiffable(value)
	m.mu.Lock()
	// A Remove of the key made since the Put began to send, on the node or on another
	// one (its MSG_REMOVE received, and no MSG_BACKUP or MSG_PROXY of the key from its
	// node after it: that was the node's Put replacing the key): its MSG_REMOVE may have
	// reached the members before the Put's backup or proxy, or reach them after.
	removed := kr.removing > 0 || kr.removes != removes || len(kr.removers) > 0
	republished := republishing || kr.republishes != republishes
	// replicatedSinceLocked after: it ends the Put's watch.
	if m.replicatedSinceLocked(k, kr, running, reads) && diffable || dirty {
		e.failed++ // the next Replicate sends the value in full
	}
	if cur := m.entries[k]; e.passOf != nil && cur != nil && cur.role == roleProxy && same(cur.primary, *e.passOf) {
		// The pass's MSG_PROXY came while the Put sent, before its store: the Put's
		// entry needs no mark (kept.go).
		e.passOf = nil
	}
	left := false
	if !removed {
		m.store(k, e)
		m.markedLocked(k, e)
		left = m.departed(e.nodes)
	}
	m.mu.Unlock()
	if removed {
		// The Remove comes after the Put: the entry is not stored, and the members drop
		// what the Put sent them.
		if members := m.Members(); len(members) > 0 {
			if err := m.send(ctx, members, &message{Type: msgRemove, Key: []byte(k)}); err != nil {
				return old, fmt.Errorf("replmap: put %v: remove again after a Remove of the key: %w", key, err)
			}
		}
		return old, nil
	}
	if left || republished {
		// The backup left while publish ran, before the entry named it: the
		// memberDisappeared that dropped it could not relocate the entry. Or a
		// republish of the key ran beside the publish, which may have sent the entry
		// this Put replaced after it (above): once it ended, the value goes to a backup
		// again (TestPutDuringTheDeparturePassOfTheEntryItReplaces).
		_, perr = m.republishKey(ctx, k, false, false, nil, 0)
	}
	if perr != nil {
		err = perr
	}
	return old, err
}
