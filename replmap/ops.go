package replmap

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
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
	m.mu.Unlock()
	old, err = m.remove(ctx, k, key, false)
	e := &entry{key: key, value: value, primary: m.local(), vbytes: int64(len(vb)), passOf: passOf}
	nodes, perr := m.publish(ctx, key, value)
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
		_, perr = m.republishKey(ctx, k, false, false, nil)
	}
	if perr != nil {
		err = perr
	}
	return old, err
}

// Get returns the value of key. On a node that holds a proxy it fetches the value from
// the backup (MSG_RETRIEVE_BACKUP) and becomes the primary (MSG_NOTIFY_MAPMEMBER to the
// backup, MSG_PROXY to the others); on the backup it becomes the primary and picks a new
// backup, and when no member takes that backup it becomes the primary without one and
// returns the value all the same, as Java's does (TestGetOnBackupWithPrimaryUnreachable).
// When a backup leaves the map before Get recorded it, Get picks another one
// (TestGetOnBackupWhileNewBackupLeaves, TestGetOnProxyWhileBackupMapStops), after a
// republish of the key under way; when ctx ends while it waits for that, Get returns
// the value all the same, the node its primary without a backup until the next
// Replicate publishes it
// (TestGetWhoseNewBackupLeftWaitsForAnotherRepublishOfTheKey). So does a backup's Get
// made while a republish of the key runs (the departure's pass taking the entry over,
// whose MSG_PROXY, sent after the Get's MSG_BACKUP, turned the Get's backup into a
// proxy): it publishes the entry again once that republish ended
// (TestGetOnTheBackupDuringTheDeparturePassThatTakesItOver). A proxy's
// Get whose MSG_PROXY to the other members fails for some of them still returns the
// value: only the backup must learn the new primary (session/backup
// TestFailoverToProxyWhileDeadPrimaryListed).
// ok is false when the map has no such key; err wraps ErrUnavailable when the backup did
// not return the value (also when it answered without one:
// TestGetBackupAnswersWithoutValue), and also ErrNoEntry when every backup node answered
// that it holds no entry for the key, or the context's error when ctx ended first.
// After Stop (or before Start) it returns ErrNotStarted. A Put of the key on the node
// while a Get takes the entry over waits until the Get made the entry the node's
// primary, so that the Put's value is kept (TestPutDuringAGetOnTheBackupKeepsThePutsValue).
func (m *Map) Get(ctx context.Context, key any) (value any, ok bool, err error) {
	k, err := keyOf(key)
	if err != nil {
		return nil, false, err
	}
	if err := m.started(); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	e := m.entries[k]
	if e == nil {
		m.mu.Unlock()
		return nil, false, nil
	}
	if e.role == rolePrimary {
		v := e.value
		m.mu.Unlock()
		return v, true, nil
	}
	if e.role == roleProxy && m.republishing[k] != nil {
		// A republish of the key under way on this node (a departure's pass that read
		// the entry while it was the primary here) may have stepped aside for the node
		// that took it over and still send that node its request to send the value
		// again (republishKey): coming after this Get's MSG_PROXY, it would make that
		// node, which keeps the value a MSG_PROXY from this node dropped (kept.go), the
		// primary again beside this one. The Get takes the entry over once that
		// republish ended (TestGetOnTheProxyAPassSteppedAsideWaitsForItsRequest).
		// Waited for before the key lock: a republish waits for forwards, which take it.
		if err := m.awaitRepublishLocked(ctx, k); err != nil {
			m.mu.Unlock()
			return nil, false, fmt.Errorf("%w: key %v: %w", ErrUnavailable, key, err)
		}
	}
	m.mu.Unlock()
	// The key's send lock: a Put of the key waits until the entry is the primary
	// (TestPutDuringAGetOnTheBackupKeepsThePutsValue). Released before the MadePrimary
	// call, which may put the key.
	l, err := m.lockKey(ctx, k)
	if err != nil {
		return nil, false, fmt.Errorf("%w: key %v: %w", ErrUnavailable, key, err)
	}
	defer func() { m.unlockKey(k, l) }() // l is nil once released
	m.mu.Lock()
	if e = m.entries[k]; e == nil || e.role == rolePrimary { // changed while waiting
		var v any
		if e != nil {
			v = e.value
		}
		m.mu.Unlock()
		return v, e != nil, nil
	}
	cur := *e
	m.mu.Unlock()
	var nodes []channel.Member
	dirty := false        // a dirty Diffable published in full (dirtyDiffable)
	var kr *keyReplicates // watched while a backup's Get publishes
	var republishing bool
	var republishes uint64
	switch cur.role {
	case roleBackup:
		// A republish of the key under way (the departure's pass taking the entry over)
		// or begun while Get publishes sends its MSG_PROXY, maybe after the Get's
		// MSG_BACKUP, turning the Get's backup into a proxy: the Get publishes the entry
		// again once it ended (below).
		m.mu.Lock()
		kr = m.keyReplicatesLocked(k)
		kr.republishWatchers++
		republishing, republishes = m.republishing[k] != nil, kr.republishes
		m.mu.Unlock()
		dirty = dirtyDiffable(cur.value)
		nodes, err = m.publish(ctx, key, cur.value)
		dirty = dirty || dirtyDiffable(cur.value)
		if err != nil {
			// No member took the new backup: the local node becomes the primary without
			// one all the same, as Java's publishEntryInfo logs its failed sends and its get
			// returns the value (the primary is probably failing). Replicate or a joining
			// member publishes it later.
			m.log.Warn("replmap: backup made primary without a backup", "map", m.cfg.Name, "err", err)
			nodes = []channel.Member{}
		}
	case roleCopy:
		if nodes, err = m.notifyPrimary(ctx, k); err != nil {
			return nil, false, err
		}
	default:
		if len(cur.nodes) == 0 { // a proxy without a backup: nobody to ask
			return nil, false, fmt.Errorf("%w: key %v has no backup", ErrUnavailable, key)
		}
		msg, err := m.retrieveBackup(ctx, key, k, cur.nodes)
		if err != nil {
			return nil, false, err
		}
		v, err := m.decodeValue(msg.Value)
		if err != nil {
			return nil, false, err
		}
		if v == nil {
			// The backup holds the key without a value (a proxy: its view of the entry
			// is not this node's): taking the entry over would make it valueless.
			return nil, false, fmt.Errorf("%w: key %v: no value from %v", ErrUnavailable, key, cur.nodes)
		}
		cur.value, cur.vbytes = v, int64(len(msg.Value))
		nodes = cur.nodes
		local := m.local()
		if len(nodes) > 0 {
			if err := m.send(ctx, nodes, &message{Type: msgNotifyMember, Key: []byte(k), Primary: local, Nodes: nodes}); err != nil {
				return nil, false, err
			}
		}
		if dest := exclude(m.Members(), nodes); len(dest) > 0 {
			// As publish's: a member that misses it (a dead node not dropped yet, the
			// usual reason for this Get) keeps a proxy naming the former primary.
			if err := m.send(ctx, dest, &message{Type: msgProxy, Key: []byte(k), Primary: local, Nodes: nodes}); err != nil {
				m.log.Warn("replmap: proxy", "map", m.cfg.Name, "err", err)
			}
		}
	}
	m.mu.Lock()
	republished := false
	if kr != nil {
		republished = republishing || kr.republishes != republishes
		kr.republishWatchers--
		m.releaseKeyReplicatesLocked(k, kr)
	}
	if e = m.entries[k]; e == nil { // removed meanwhile
		published := cur.role == roleBackup && m.state != stateDestroyed
		m.mu.Unlock()
		if published { // the new backup and the proxies may hold it after the removal
			m.retract(ctx, k)
		}
		return nil, false, nil
	}
	m.forgetKeptLocked(k, e)
	e.value, e.vbytes, e.primary, e.nodes, e.role = cur.value, cur.vbytes, m.local(), nodes, rolePrimary
	if dirty {
		e.failed++ // the next Replicate sends the value in full
	}
	m.account(k, e)
	v := e.value
	var made chan struct{} // closed once MadePrimary returned
	if m.cfg.MadePrimary != nil {
		cctx := context.WithValue(ctx, callKey{}, m)
		made = m.queueCallLocked(func() { m.cfg.MadePrimary(cctx, key, v) })
	}
	left := m.departed(nodes) || republished
	m.mu.Unlock()
	if left {
		// A backup left the map while Get ran, before the entry named it (as in Put): the
		// memberDisappeared that dropped it could not relocate the entry. Or a republish
		// of the key ran beside its publish (above:
		// TestGetOnTheBackupDuringTheDeparturePassThatTakesItOver). A failure is
		// Replicate's to report (the entry then has no backup); the value is returned.
		if _, err := m.republishKey(ctx, k, m.cfg.Replicated, false, nil); err != nil {
			m.log.Warn("replmap: relocate after get", "map", m.cfg.Name, "err", err)
		}
	}
	m.unlockKey(k, l)
	l = nil
	m.deliverWait(ctx, made)
	return v, true, nil
}

// Remove deletes key everywhere (MSG_REMOVE to every map member) and returns its value
// (nil if none). It sends MSG_REMOVE also when the local node holds no entry for key (it
// missed the key's MSG_PROXY, or refused it at MaxEntries), where Java's remove sends
// nothing. A Replicate of the entry that checks it after the Remove dropped it sends
// nothing (TestReplicateOfARemovedEntrySendsNothing). A Remove takes no key lock: it does
// not wait for a Put of the key on the node (nor for a Get taking the entry over): a Put
// under way when it began stores nothing and removes the key again, and the Remove
// returns the value it found, nil when the Put had not stored its entry yet
// (TestRemoveDuringAPutLeavesNoUnbackedEntry); a Put made while it is under way waits
// for it (see Put). A member's MSG_BACKUP, MSG_COPY (a value in full) or MSG_PROXY of
// the key that the node receives while the Remove sends its MSG_REMOVE (another node's
// Put, a Get taking the entry over, a Replicate in full of an entry the node backs up),
// applied or refused by the node's limits
// (TestRefusedPutDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing), has the Remove
// drop what the node got and send MSG_REMOVE again, up to 4 times: its
// MSG_REMOVE may have reached that member after it stored its entry, where its backup
// and proxies were left naming a primary that held nothing. The removal comes after that
// Put, and no node holds the key after both
// (TestPutDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing,
// TestGetTakeoverDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing). A Replicate reaches
// only the backup nodes: on a node that holds a proxy of the key, the Remove does not
// see it; a Replicate in full that reaches the backup after the MSG_REMOVE, sent before
// the primary got it, is undone by the primary: a lazy map's primary that another
// member's MSG_REMOVE drops sends its backup nodes a MSG_REMOVE naming itself, which
// drops a backup or proxy of its entry only, from a goroutine of its own, after that
// Remove returned (TestReplicateDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing,
// TestForwardedRemoveDropsOnlyTheSendersBackup). The Remove
// sees the publishes received before its send returns: with synchronized-ack
// SendOptions, the members applied its MSG_REMOVE by then. When a publish came during
// the last of those sends too (the first MSG_REMOVE and 4 again), a member may still
// hold the key: Remove returns the value it found and an error wrapping
// ErrRemoveIncomplete (TestRemoveOvertakenEveryTimeReturnsErrRemoveIncomplete).
func (m *Map) Remove(ctx context.Context, key any) (old any, err error) {
	k, err := keyOf(key)
	if err != nil {
		return nil, err
	}
	if err := m.started(); err != nil {
		return nil, err
	}
	// Listed for a Put of the key on the node that this Remove overlaps.
	m.mu.Lock()
	kr := m.keyReplicatesLocked(k)
	kr.removing++
	published := kr.published
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		kr.removing--
		kr.removes++
		if kr.removing == 0 && kr.removed != nil {
			close(kr.removed) // the Puts waiting for the Removes
			kr.removed = nil
		}
		m.releaseKeyReplicatesLocked(k, kr)
		m.mu.Unlock()
	}()
	old, err = m.remove(ctx, k, key, true)
	// A member published the key (its Put, a Get taking the entry over, a Replicate in
	// full) while the MSG_REMOVE was sent: the MSG_REMOVE may have reached it after it
	// stored its entry, its backup and proxies (this node among them) holding the key
	// for a primary that holds nothing. The removal comes after that publish: the node
	// drops what it got and sends MSG_REMOVE again, up to maxRepublish times; a publish
	// during the last of those sends too ends it with ErrRemoveIncomplete.
	for i := 0; err == nil; i++ {
		m.mu.Lock()
		again := kr.published != published
		published = kr.published
		if again && i < maxRepublish {
			m.drop(k)
		}
		members := m.members
		m.mu.Unlock()
		if !again || len(members) == 0 {
			break
		}
		if i == maxRepublish {
			err = fmt.Errorf("%w: %v, its MSG_REMOVE sent %d times", ErrRemoveIncomplete, key, 1+maxRepublish)
			break
		}
		if err = m.send(ctx, members, &message{Type: msgRemove, Key: []byte(k)}); err != nil {
			err = fmt.Errorf("replmap: remove %v again, published meanwhile: %w", key, err)
		}
	}
	return old, err
}

// remove drops the entry under k and sends MSG_REMOVE to the map members: always with
// always set (Remove), otherwise only when there was an entry (Put).
func (m *Map) remove(ctx context.Context, k string, key any, always bool) (any, error) {
	m.mu.Lock()
	e := m.entries[k]
	m.drop(k)
	members := m.members
	m.mu.Unlock()
	var old any
	if e != nil {
		old = e.value
	} else if !always {
		return nil, nil
	}
	if len(members) > 0 {
		if err := m.send(ctx, members, &message{Type: msgRemove, Key: []byte(k)}); err != nil {
			return old, fmt.Errorf("replmap: remove %v: %w", key, err)
		}
	}
	return old, nil
}

func (m *Map) started() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.startCalled || m.state == stateDestroyed {
		return ErrNotStarted
	}
	return nil
}

// Len returns the number of entries this node holds a value of (primaries and backups;
// Java's size()).
func (m *Map) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.entries {
		if e.role != roleProxy && e.value != nil {
			n++
		}
	}
	return n
}

// retrieveBackup asks nodes, a proxy entry's backup nodes, for key's value
// (MSG_RETRIEVE_BACKUP, first reply). A node that answers null holds no entry for the key
// (AbstractReplicatedMap.replyRequest): the other nodes are asked in turn, and when every
// one answered so the error wraps ErrNoEntry and ErrUnavailable. No reply (timeout, the
// node left or runs no such map) is ErrUnavailable with the call's error.
func (m *Map) retrieveBackup(ctx context.Context, key any, k string, nodes []channel.Member) (*message, error) {
	for ask := nodes; ; {
		rctx, cancel := m.rpcContext(ctx)
		resp, cerr := m.call(rctx, ask, &message{Type: msgRetrieveBackup, Key: []byte(k)})
		cancel()
		var null []channel.Member
		for _, r := range resp {
			if r.Message != nil {
				return m.decodeReply(r)
			}
			null = append(null, r.Member)
		}
		rest := exclude(ask, null)
		switch {
		case len(rest) == 0:
			return nil, fmt.Errorf("%w: %w: key %v: %v answered null", ErrUnavailable, ErrNoEntry, key, nodes)
		case len(rest) < len(ask):
			ask = rest
		case cerr == nil:
			return nil, fmt.Errorf("%w: key %v from %v: no reply", ErrUnavailable, key, ask)
		default:
			return nil, fmt.Errorf("%w: key %v from %v: %w", ErrUnavailable, key, ask, cerr)
		}
	}
}

// Peek returns the value the local node holds for key, without asking another node or
// changing the entry's primary: ok is false when it holds none (no entry, or a proxy),
// primary whether the local node is the entry's primary.
func (m *Map) Peek(key any) (value any, primary, ok bool) {
	k, err := keyOf(key)
	if err != nil {
		return nil, false, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[k]
	if e == nil || e.role == roleProxy || e.value == nil {
		return nil, false, false
	}
	return e.value, e.role == rolePrimary, true
}

// Keys returns the keys of every entry the map knows, proxies included (Java's
// keySetFull): a key is in the map when any node put it.
func (m *Map) Keys() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]any, 0, len(m.entries))
	for _, e := range m.entries {
		keys = append(keys, e.key)
	}
	return keys
}

// publish sends key and value to the next backup in turn and a proxy to the other map
// members (LazyReplicatedMap.publishEntryInfo), or a copy to every map member for a
// replicated map. A backup that cannot be reached is skipped for the next one; the
// backup nodes chosen are returned (empty when there is none).
func (m *Map) publish(ctx context.Context, key, value any) ([]channel.Member, error) {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return nil, err
	}
	vb, err := m.marshalValue(value)
	if err != nil {
		return nil, err
	}
	if m.cfg.Replicated {
		return m.publishCopies(ctx, kb, vb)
	}
	m.mu.Lock()
	members := append([]channel.Member(nil), m.members...)
	first := m.next
	if first >= len(members) {
		first = 0
	}
	m.next = first + 1
	m.mu.Unlock()
	local := m.local()
	var errs []error
	for i := range members {
		backup := []channel.Member{members[(first+i)%len(members)]}
		err := m.send(ctx, backup, &message{Type: msgBackup, Key: kb, Value: vb, Primary: local, Nodes: backup})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if proxies := exclude(m.Members(), backup); len(proxies) > 0 {
			if err := m.send(ctx, proxies, &message{Type: msgProxy, Key: kb, Primary: local, Nodes: backup}); err != nil {
				m.log.Warn("replmap: proxy", "map", m.cfg.Name, "err", err)
			}
		}
		return backup, nil
	}
	if len(errs) > 0 {
		return []channel.Member{}, fmt.Errorf("%w: key %v: %w", ErrNoBackup, key, errs[0])
	}
	return []channel.Member{}, nil
}
