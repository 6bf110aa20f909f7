package replmap

import (
	"context"
	"fmt"

	"github.com/gotribes/tribes/channel"
)

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
// A backup's Get whose entry names another member the primary once it published (that
// member's publish crossed it) runs once again on that entry instead of taking it over
// (TestKeptValueRestoredCrossesTheGetThatPublishedTheOlderValue).
func (m *Map) Get(ctx context.Context, key any) (value any, ok bool, err error) {
	return m.get(ctx, key, false)
}

// get is Get; crossed is set when it runs again after another member's publish crossed
// a backup's takeover (below), which it then does not do again.
func (m *Map) get(ctx context.Context, key any, crossed bool) (value any, ok bool, err error) {
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
		nodes, err = m.publish(ctx, key, cur.value, cur.stamp, cur.clock, false)
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
		// The reply names no write (stamp.go): the value's is unknown here, and so is
		// its clock (the backup may hold changes of diffs since).
		cur.value, cur.vbytes, cur.stamp, cur.clock = v, int64(len(msg.Value)), 0, 0
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
	if local := m.cfg.Channel.LocalMember(); !crossed && cur.role == roleBackup && e.role != rolePrimary && cur.primary != nil &&
		e.primary != nil && !same(e.primary, *cur.primary) && !same(e.primary, local) {
		// Another member's publish of the key reached the node while the Get published
		// (its MSG_BACKUP or MSG_PROXY names that member the primary, neither the entry's
		// former one, whose departure pass the Get takes over from as before, nor this
		// node): a put's there, or a primary taking back its kept value over the older
		// one this Get publishes (supersededLocked), which this Get's MSG_BACKUP made it
		// do. Taking the entry over here would leave two primaries, the other's value,
		// maybe newer and acknowledged, on that member alone
		// (TestKeptValueRestoredCrossesTheGetThatPublishedTheOlderValue). The Get runs
		// again on what that publish made of the entry (a backup takes it over with the
		// value it holds now, a proxy fetches it), once.
		m.mu.Unlock()
		m.unlockKey(k, l)
		l = nil
		return m.get(ctx, key, true)
	}
	m.forgetKeptLocked(k, e)
	e.value, e.vbytes, e.primary, e.nodes, e.role, e.stamp = cur.value, cur.vbytes, m.local(), nodes, rolePrimary, cur.stamp
	e.clock = cur.clock
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
		if _, err := m.republishKey(ctx, k, m.cfg.Replicated, false, nil, 0); err != nil {
			m.log.Warn("replmap: relocate after get", "map", m.cfg.Name, "err", err)
		}
	}
	m.unlockKey(k, l)
	l = nil
	m.deliverWait(ctx, made)
	return v, true, nil
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
