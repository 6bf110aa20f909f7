package replmap

import (
	"context"
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
// key (one pending send per key: the queue holds at most the entries the node held) for
// one goroutine, which Stop ends and waits for. That goroutine holds the key's send lock
// (lockKey) while it sends, and sends nothing when the node holds the key again: a Put
// or Get here since then published it, and its messages are not overtaken.

// removeForwards are the keys whose removal the node forwards to the backup nodes it
// named, m.mu held.
type removeForwards struct {
	keys    map[string][]channel.Member
	running bool
}

// forwardRemoveLocked queues the removal of e, the primary entry under k that from's
// MSG_REMOVE dropped, for e's backup nodes but from, m.mu held.
func (m *Map) forwardRemoveLocked(k string, e *entry, from channel.Member) {
	if m.cfg.Replicated || e == nil || e.role != rolePrimary || m.state == stateDestroyed {
		return
	}
	nodes := exclude(e.nodes, []channel.Member{from})
	if len(nodes) == 0 {
		return
	}
	if m.forwards.keys == nil {
		m.forwards.keys = make(map[string][]channel.Member)
	}
	for _, n := range m.forwards.keys[k] {
		if indexOf(nodes, n) < 0 {
			nodes = append(nodes, n)
		}
	}
	m.forwards.keys[k] = nodes
	if m.forwards.running {
		return
	}
	m.forwards.running = true
	m.forwarding.Add(1)
	go m.forwardRemoves(m.life)
}

// forwardRemoves sends the queued removals until none is left, or the map stopped.
func (m *Map) forwardRemoves(ctx context.Context) {
	defer m.forwarding.Done()
	for {
		m.mu.Lock()
		if len(m.forwards.keys) == 0 || m.state == stateDestroyed {
			m.forwards.keys, m.forwards.running = nil, false
			m.mu.Unlock()
			return
		}
		var k string
		var nodes []channel.Member
		for k, nodes = range m.forwards.keys {
			break
		}
		delete(m.forwards.keys, k)
		m.mu.Unlock()
		m.forwardRemove(ctx, k, nodes)
	}
}

// forwardRemove sends the removal of the key under k to nodes, those of them that are
// still map members, unless the node holds the key again.
func (m *Map) forwardRemove(ctx context.Context, k string, nodes []channel.Member) {
	l, err := m.lockKey(ctx, k)
	if err != nil {
		return // stopped
	}
	defer m.unlockKey(k, l)
	m.mu.Lock()
	held := m.entries[k] != nil
	nodes = slices.DeleteFunc(nodes, func(n channel.Member) bool { return indexOf(m.members, n) < 0 })
	m.mu.Unlock()
	if held || len(nodes) == 0 {
		return
	}
	if err := m.send(ctx, nodes, &message{Type: msgRemove, Key: []byte(k), Primary: m.local()}); err != nil {
		m.log.Log(ctx, slog.LevelWarn, "replmap: the removal of a primary not sent to its backup nodes",
			"map", m.cfg.Name, "key bytes", len(k), "err", err)
	}
}

// forwardedRemoveIgnored reports whether mm, a MSG_REMOVE from from, is a primary's
// forwarded removal (it names a primary) that leaves e, the entry under its key, as it
// is: e is not a backup or proxy of from's.
func forwardedRemoveIgnored(mm *message, e *entry, from channel.Member) bool {
	return mm.Primary != nil && (e == nil || e.role == rolePrimary || !same(e.primary, from) || !same(mm.Primary, from))
}
