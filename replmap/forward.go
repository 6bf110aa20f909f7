package replmap

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/gotribes/tribes/channel"
)

// A lazy map's primary that another member's MSG_REMOVE drops tells its entry's backup
// nodes (the sender excepted) that it holds the key no longer: a MSG_REMOVE naming it as
// the primary. A Go node drops on it only a backup or proxy whose primary is that sender;
// a Java node drops the key, as on any MSG_REMOVE, even that of its own put made after
// the Remove returned, when the put's MSG_PROXY or MSG_BACKUP reached this node after
// the check below (TestForwardedRemoveDropsAJavaPutMadeAfterTheRemove in interop/maps
// shows it; not fixed: a Go node cannot tell a Java member). It covers a full Replicate (MSG_BACKUP
// to the backup nodes only) that crossed the Remove: the backup got the value again
// after the Remove's MSG_REMOVE, and the Remove's node, a proxy, never saw it.
//
// The receive handler does not send it: with synchronized-ack SendOptions a handler
// waiting for an ACK whose sender waits for this handler would be a cycle. It queues the
// key for each backup node (one queue per node, each key once in it, at most
// Config.MaxForwardQueue keys: a removal past it is counted in
// Stats.ForwardedRemovesDropped and not sent, TestForwardQueueBoundedDropsCounted), and
// goroutines send the queues, one per backup node and at most Config.MaxForwarders
// together (DefaultMaxForwarders, 8):
// a goroutine whose queue is empty takes over the queue that waits the longest for one,
// and after each send it hands its queue back behind the waiting ones when one waits, so
// that a backup node whose sends block holds a goroutine for one send at a time
// (TestForwarderBlockedOnABackupServesAWaitingQueueAfterASend). A backup node whose
// sends block delays its own queue only, not another node's
// (TestForwardSlowBackupDoesNotDelayAnother), as long as fewer than MaxForwarders nodes
// block at once; beyond, a node's queue waits until one of their sends returns
// (TestForwardersBoundedAndAWaitingQueueTakenOver). The queue of a node that leaves the
// map is dropped (TestForwardsQueuedForALeavingMemberDropped). Stop ends them and waits
// for them.
// Each send holds the key's send lock (lockKey), and sends nothing when the node holds
// the key again as its primary (a Put or Get here since then published it, and its
// messages are not overtaken), nor, unless a send of the key by the node was under way
// when the removal came (one a dispatch still holds included, which the removal then
// waits for: asyncsend.go), as another member's (forwardRemove). The trade-off: a Put of a key waits for a removal of the same key being
// forwarded to a slow backup, up to one send timeout, so that the removal cannot reach
// the backup after the Put's copy (TestPutOfAKeyWaitsForAForwardOfIt; a Put of another
// key does not wait, TestPutOfAnotherKeyDoesNotWaitForAForward). Sending without the
// lock would let the removal drop, on the backup node, the copy of a Put that node
// acknowledged, the primary then holding the only one until it published the entry
// anew. A republish of the key (republishKey), which takes no key lock, waits for a
// send under way, so that the removal never drops the backup a republish made after
// the check
// (TestForwardedRemoveDoesNotDropARepublishedBackup). A send that fails (the map not
// stopping) is counted in Stats.ForwardedRemovesFailed and logged, rate-limited per
// backup node (TestForwardFailuresCountedAndRateLimited).

// removeForwards are the removals the node forwards to backup nodes, by node, m.mu
// held; workers counts the goroutines sending them.
type removeForwards struct {
	queues map[channel.MemberKey]*forwardQueue
	// waiting lists the queues with keys and no goroutine, in the order they began to
	// wait for one.
	waiting []*forwardQueue
	workers int
	// sending holds the keys whose removal is being sent (one at a time: the send holds
	// the key's send lock), each with a channel closed once the send returned;
	// waiters counts the republishes waiting for one (republishKey).
	sending map[string]chan struct{}
	waiters int
	// failed counts the forwarded removals whose send to a backup node failed, dropped
	// those not queued because the node's queue held Config.MaxForwardQueue keys.
	failed, dropped uint64
}

// forwardQueue is the keys whose removal the node forwards to one backup node; running
// is set while a goroutine sends them, waiting while the queue is listed in waiting.
type forwardQueue struct {
	to channel.Member
	// keys maps each key to whether a send of the key by this node (its send lock held
	// or waited for: a Replicate or publish) was under way when the removal came.
	keys    map[string]bool
	running bool
	waiting bool
}

// forwardRemoveLocked queues the removal of e, the primary entry under k that from's
// MSG_REMOVE dropped, for e's backup nodes that are map members, but from, m.mu held. A
// queue holding Config.MaxForwardQueue keys takes no more: the removal is counted in
// Stats.ForwardedRemovesDropped and not sent.
func (m *Map) forwardRemoveLocked(k string, e *entry, from channel.Member) {
	if m.cfg.Replicated || e == nil || e.role != rolePrimary || m.state == stateDestroyed {
		return
	}
	for _, n := range e.nodes {
		if same(&n, from) || indexOf(m.members, n) < 0 {
			continue
		}
		if m.forwards.queues == nil {
			m.forwards.queues = make(map[channel.MemberKey]*forwardQueue)
		}
		q := m.forwards.queues[n.Key()]
		if q == nil {
			q = &forwardQueue{to: n, keys: make(map[string]bool)}
			m.forwards.queues[n.Key()] = q
		}
		if _, ok := q.keys[k]; !ok && len(q.keys) >= m.cfg.MaxForwardQueue {
			m.forwards.dropped++
			continue
		}
		// A send of the key under way may cross another member's put on the backup
		// (forwardRemove), also one a dispatch still holds (asyncsend.go).
		q.keys[k] = q.keys[k] || m.keyLocks[k] != nil || m.asyncUnderwayLocked(k)
		switch {
		case q.running || q.waiting:
		case m.forwards.workers < m.cfg.MaxForwarders:
			q.running = true
			m.forwards.workers++
			m.forwarding.Add(1)
			go m.forwardRemoves(m.life, q)
		default:
			q.waiting = true
			m.forwards.waiting = append(m.forwards.waiting, q)
		}
	}
}

// forwardRemoves sends the removals queued for q's node until none is left, then those
// of the node whose queue waits the longest for a goroutine, until no queue does, or
// the map stopped. After each send it hands q back, to the end of the waiting queues,
// when one waits: a backup node whose sends block holds a goroutine for one send at a
// time (TestForwarderBlockedOnABackupServesAWaitingQueueAfterASend).
func (m *Map) forwardRemoves(ctx context.Context, q *forwardQueue) {
	defer m.forwarding.Done()
	sent := false
	for {
		m.mu.Lock()
		if m.state == stateDestroyed {
			clear(m.forwards.queues)
			m.forwards.waiting = nil
			m.forwards.workers--
			m.mu.Unlock()
			return
		}
		if len(q.keys) == 0 || sent && len(m.forwards.waiting) > 0 {
			q.running = false
			if len(q.keys) == 0 {
				delete(m.forwards.queues, q.to.Key())
			} else {
				q.waiting = true
				m.forwards.waiting = append(m.forwards.waiting, q)
			}
			if len(m.forwards.waiting) == 0 {
				m.forwards.workers--
				m.mu.Unlock()
				return
			}
			q = m.forwards.waiting[0]
			m.forwards.waiting[0] = nil
			m.forwards.waiting = m.forwards.waiting[1:]
			q.waiting, q.running, sent = false, true, false
			m.mu.Unlock()
			continue
		}
		var k string
		var crossing bool
		for k, crossing = range q.keys {
			break
		}
		delete(q.keys, k)
		to := q.to
		m.mu.Unlock()
		m.forwardRemove(ctx, k, to, crossing)
		sent = true
	}
}

// forwardRemove sends the removal of the key under k to the backup node to, if it is
// still a map member, unless the node holds the key again. It holds the key's send lock
// while it sends: a Put of a key waits for a removal of the same key being forwarded to
// a slow backup, up to one send timeout, so that the removal cannot reach the backup
// after the Put's copy (TestPutOfAKeyWaitsForAForwardOfIt).
func (m *Map) forwardRemove(ctx context.Context, k string, to channel.Member, crossing bool) {
	l, err := m.lockKey(ctx, k)
	if err != nil {
		return // stopped
	}
	defer m.unlockKey(k, l)
	m.mu.Lock()
	// An entry the node holds again as another member's (a backup, copy or proxy: that
	// member's Put or Get since) stops it too, unless a send of the key by this node was
	// under way when the removal came (crossing): a Replicate's MSG_BACKUP that crossed
	// that Put on the backup, which the removal, naming this node, drops there (a Go
	// backup drops only a backup or proxy naming it;
	// TestForwardedRemoveCoversAnAsyncReplicateStillOnItsWay, its clock unknown: with
	// the clocks known the backup did not apply it, TestPutOnAnotherNodeRacingAResend).
	// Without one the backup holds that Put's backup, which a Java backup would drop on
	// any MSG_REMOVE
	// (TestForwardedRemoveAfterANewPutOnAnotherNode,
	// interop/maps' TestForwardedRemoveKeepsAJavaBackupOfANewerGoPut).
	if e := m.entries[k]; e != nil && (e.role == rolePrimary || !crossing) || indexOf(m.members, to) < 0 {
		m.mu.Unlock()
		return
	}
	// A send of the key a dispatch still holds: the removal follows it (asyncsend.go;
	// TestForwardedRemoveCoversAnAsyncReplicateStillOnItsWay).
	if err := m.awaitAsyncLocked(ctx, k); err != nil {
		m.mu.Unlock()
		return // stopped
	}
	if e := m.entries[k]; e != nil && e.role == rolePrimary || indexOf(m.members, to) < 0 {
		m.mu.Unlock()
		return
	}
	// Checked with the entry in one critical section: a republish reading the entry
	// after this waits until the send returned (awaitForwardLocked).
	sent := make(chan struct{})
	if m.forwards.sending == nil {
		m.forwards.sending = make(map[string]chan struct{})
	}
	m.forwards.sending[k] = sent
	m.mu.Unlock()
	err = m.send(ctx, []channel.Member{to}, &message{Type: msgRemove, Key: []byte(k), Primary: m.local()})
	m.mu.Lock()
	delete(m.forwards.sending, k)
	close(sent)
	failed := err != nil && ctx.Err() == nil // not a send the map's stop ended
	if failed {
		m.forwards.failed++
	}
	m.mu.Unlock()
	if !failed {
		return
	}
	m.rlog.Log(slog.LevelWarn, to.String(), "forward", "replmap: the removal of a primary not sent to its backup node",
		"map", m.cfg.Name, "key bytes", len(k), "err", err)
}

// dropForwardsLocked drops the removals queued for mb, a map member that left, m.mu
// held: none of them would be sent (forwardRemove), and a queue waiting for a goroutine
// would keep them until one is free (TestForwardsQueuedForALeavingMemberDropped). A
// send under way ends as it does; its goroutine then finds the queue empty.
func (m *Map) dropForwardsLocked(mb channel.Member) {
	q := m.forwards.queues[mb.Key()]
	if q == nil {
		return
	}
	clear(q.keys)
	if q.running {
		return
	}
	delete(m.forwards.queues, mb.Key())
	if q.waiting {
		q.waiting = false
		if i := slices.Index(m.forwards.waiting, q); i >= 0 {
			m.forwards.waiting = slices.Delete(m.forwards.waiting, i, i+1)
		}
	}
}

// awaitForwardLocked waits, m.mu held (released while it waits), until no forwarded
// removal of the key under k is being sent, or ctx ends: then it returns an error
// wrapping ctx's.
func (m *Map) awaitForwardLocked(ctx context.Context, k string) error {
	for {
		sent := m.forwards.sending[k]
		if sent == nil {
			return nil
		}
		m.forwards.waiters++
		m.mu.Unlock()
		var err error
		select {
		case <-sent:
		case <-ctx.Done():
			err = fmt.Errorf("replmap: republish: waiting for the forwarded removal of the key: %w", ctx.Err())
		}
		m.mu.Lock()
		m.forwards.waiters--
		if err != nil {
			return err
		}
	}
}

// forwardedRemoveIgnored reports whether mm, a MSG_REMOVE from from, is a primary's
// forwarded removal (it names a primary) that leaves e, the entry under its key, as it
// is: e is not a backup or proxy of from's.
func forwardedRemoveIgnored(mm *message, e *entry, from channel.Member) bool {
	return mm.Primary != nil && (e == nil || e.role == rolePrimary || !same(e.primary, from) || !same(mm.Primary, from))
}
