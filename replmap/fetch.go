package replmap

import (
	"context"
	"sync"

	"github.com/gotribes/tribes/channel"
)

// A lazy map whose state transfer names it the backup of entries it holds no value of
// asks their primaries for the values (MSG_RETRIEVE_BACKUP, which any node holding the
// entry answers with its value, Java's too). That happens when the map restarted
// without its MSG_STOP reaching the primary (a node killed and restarted with its member
// identity): the primary still lists it, and a Java primary, whose mapMemberAdded
// ignores a member it lists, publishes nothing anew, so that its entries' values would be
// lost with it (TestJavaPrimaryRestartedGoBackup in interop/maps). A Go primary publishes
// them anew on the MSG_START (memberStarted) as well.
//
// Likewise a lazy map whose state names it the primary of entries it holds no value of
// (its node restarted without its MSG_STOP reaching their backup) asks their backup for
// the values, as Java's get of a proxy does, and holds them as their primary again
// (Config.MadePrimary is called), the backup and the other members naming it so already:
// a Java backup, which does nothing on the MSG_START of a member it lists, holds them
// alone otherwise, and they would be lost once it left before a Get of each here
// (TestRestartedPrimaryAsksJavaLikeBackup; TestGoPrimaryRestartedJavaBackup in
// interop/maps). A Go backup takes such entries over on the MSG_START (memberStarted),
// and what it then publishes replaces what the fetch made of them: when the fetch took
// the value first, Config.MadePrimary is called on both nodes, and the backup ends the
// primary, this node its backup; when the takeover reached this node first, the fetch's
// reply changes nothing (TestFetchAndTakeoverMadePrimaryRace). A Replicate from this node
// while briefly the primary, whose MSG_BACKUP reaches the backup after its takeover,
// leaves each node the other's backup and none the primary, as two crossing MSG_BACKUPs
// do in Java, until a Get on either (TestFetchTakeoverThenReplicateLeavesNoPrimary).

// fetchWorkers bounds the MSG_RETRIEVE_BACKUP requests a fetch pass has in flight.
const fetchWorkers = 4

// fetchTries bounds how often an entry's value is asked for: again when a diff for it
// came, and was refused (the node holding no value yet), while the request waited for
// its reply, which may hold the value before that diff.
const fetchTries = 3

// backupFetch is the map's fetch pass, m.mu held: cancel ends it, done is closed when
// it ended; stopped is set once Stop began (no pass starts then). refused counts, while
// the pass runs, the diffs refused for each of its keys (one per entry to fetch).
type backupFetch struct {
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
	refused map[string]int
}

// fetchItem is an entry to fetch: its key's stream and the member to ask, its primary,
// or with own (an entry naming this node as its primary) its backup.
type fetchItem struct {
	k    string
	from channel.Member
	own  bool
}

// startFetch starts, after Start applied the state and the queued messages, the pass
// that asks the primaries for the values of the proxies naming this node as their
// backup, and the backups for those of the proxies naming it as their primary. At most
// one pass runs, with fetchWorkers requests in flight, each bounded by RPCTimeout; a
// member that gives no reply is not asked for its other entries; the pass ends with
// Stop, which waits for it within its context.
func (m *Map) startFetch() {
	if m.cfg.Replicated {
		return
	}
	local := m.cfg.Channel.LocalMember()
	var items []fetchItem
	m.mu.Lock()
	for k, e := range m.entries {
		switch {
		case lacksBackupValue(e, local):
			items = append(items, fetchItem{k: k, from: *e.primary})
		case lacksPrimaryValue(e, local):
			items = append(items, fetchItem{k: k, from: e.nodes[0], own: true})
		}
	}
	m.mu.Unlock()
	// The member is asked when the channel lists it: it may not be a map member yet
	// (its reply to MSG_INIT still on its way, handled as a left-over).
	listed := items[:0]
	for _, it := range items {
		if cm, ok := m.channelMember(it.from); ok {
			it.from = cm
			listed = append(listed, it)
		}
	}
	items = listed
	if len(items) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == stateDestroyed || m.fetch.stopped || m.fetch.done != nil {
		return
	}
	ctx, cancel := context.WithCancel(m.life)
	m.fetch.cancel, m.fetch.done = cancel, make(chan struct{})
	m.fetch.refused = make(map[string]int, len(items))
	for _, it := range items {
		m.fetch.refused[it.k] = 0
	}
	m.beginPassLocked()
	m.log.Info("replmap: named the primary or backup of entries without their values; asking their holders",
		"map", m.cfg.Name, "entries", len(items))
	go m.runFetch(ctx, items, m.fetch.done)
}

// lacksBackupValue reports whether e is a proxy that names local among its backup nodes
// and another node as its primary.
func lacksBackupValue(e *entry, local channel.Member) bool {
	return e.role == roleProxy && e.primary != nil && !same(e.primary, local) && indexOf(e.nodes, local) >= 0
}

// lacksPrimaryValue reports whether e is a proxy that names local as its primary and
// another node as its first backup node.
func lacksPrimaryValue(e *entry, local channel.Member) bool {
	return e.role == roleProxy && same(e.primary, local) && len(e.nodes) > 0 && e.nodes[0].Key() != local.Key()
}

// lacks reports whether e is still the proxy it.k was to fetch from it.from.
func (it fetchItem) lacks(e *entry, local channel.Member) bool {
	if it.own {
		return lacksPrimaryValue(e, local) && e.nodes[0].Key() == it.from.Key()
	}
	return lacksBackupValue(e, local) && same(e.primary, it.from)
}

// runFetch fetches items with fetchWorkers workers and closes done.
func (m *Map) runFetch(ctx context.Context, items []fetchItem, done chan struct{}) {
	defer m.endPass()
	defer close(done)
	defer func() {
		m.mu.Lock()
		m.fetch.refused = nil
		m.mu.Unlock()
	}()
	work := make(chan fetchItem)
	var mu sync.Mutex
	var silent []channel.Member // members that gave no reply
	var missed int              // entries not fetched for that
	var wg sync.WaitGroup
	for range min(fetchWorkers, len(items)) {
		wg.Go(func() {
			for it := range work {
				mu.Lock()
				skip := indexOf(silent, it.from) >= 0
				mu.Unlock()
				if !skip && (m.fetchValue(ctx, it) || ctx.Err() != nil) {
					continue
				}
				mu.Lock()
				missed++
				if indexOf(silent, it.from) < 0 {
					silent = append(silent, it.from)
				}
				mu.Unlock()
			}
		})
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		work <- it
	}
	close(work)
	wg.Wait()
	if missed > 0 {
		m.log.Warn("replmap: values not retrieved: the member holding them did not answer", "map", m.cfg.Name,
			"entries", missed, "members", len(silent))
	}
}

// noteRefusedDiffLocked counts a diff for k refused for want of a value, m.mu held, when
// the fetch pass that runs has k to fetch.
func (m *Map) noteRefusedDiffLocked(k string) {
	if n, ok := m.fetch.refused[k]; ok {
		m.fetch.refused[k] = n + 1
	}
}

// fetchValue asks it.from for the value of the entry under it.k and makes the entry
// a backup holding it, if it still is a proxy naming this node as its backup and
// it.from as its primary; with it.own, the primary holding it (Config.MadePrimary
// called), if it still is a proxy naming this node as its primary and it.from as its
// backup. A value whose request a diff for the key overtook (refused
// here, the node holding no value) may be older than that diff: it is asked for again,
// up to fetchTries times in all, and then left (the entry stays a proxy). Java's
// entries carry no version to compare. It reports false when it.from gave no reply.
func (m *Map) fetchValue(ctx context.Context, it fetchItem) bool {
	for try := 1; ; try++ {
		m.mu.Lock()
		before := m.fetch.refused[it.k]
		m.mu.Unlock()
		replied, stale := m.fetchOnce(ctx, it, before)
		if !stale {
			return replied
		}
		if try == fetchTries || ctx.Err() != nil {
			m.log.Warn("replmap: backup value not retrieved: diffs overtook every reply", "map", m.cfg.Name,
				"from", it.from.String(), "tries", try)
			return true
		}
	}
}

// fetchOnce is one request of fetchValue; stale reports that a diff for the key was
// refused since the refused count was before, the value not taken.
func (m *Map) fetchOnce(ctx context.Context, it fetchItem, before int) (replied, stale bool) {
	rctx, cancel := m.rpcContext(ctx)
	resp, err := m.call(rctx, []channel.Member{it.from}, &message{Type: msgRetrieveBackup, Key: []byte(it.k)})
	cancel()
	if len(resp) == 0 {
		m.log.Debug("replmap: no reply to a value's request", "map", m.cfg.Name, "from", it.from.String(), "err", err)
		return false, false
	}
	if resp[0].Message == nil { // the member holds no entry for the key (removed)
		return true, false
	}
	mm, err := m.decodeReply(resp[0])
	var v any
	if err == nil {
		v, err = m.decodeValue(mm.Value)
	}
	if err != nil || v == nil {
		m.log.Warn("replmap: value from the member holding it", "map", m.cfg.Name, "from", it.from.String(), "err", err)
		return true, false
	}
	local := m.cfg.Channel.LocalMember()
	m.mu.Lock()
	e := m.entries[it.k]
	if m.state == stateDestroyed || e == nil || !it.lacks(e, local) {
		m.mu.Unlock()
		return true, false // changed meanwhile: a message told this node what it holds now
	}
	if m.fetch.refused[it.k] != before {
		m.mu.Unlock()
		return true, true
	}
	vbytes := int64(len(mm.Value))
	size := entrySize(it.k, vbytes, e.primary, e.nodes)
	mm.Type = msgBackup
	if m.admit(it.k, e, size, mm, it.from) != nil {
		m.mu.Unlock()
		return true, false
	}
	// The reply names no write: the value's clock is unknown here (stamp.go).
	e.value, e.vbytes, e.role, e.clock = v, vbytes, roleBackup, 0
	if it.own {
		e.role = rolePrimary
	}
	m.resize(e, size)
	if it.own && m.cfg.MadePrimary != nil {
		key := e.key
		m.queueCallLocked(func() { m.cfg.MadePrimary(m.passCtx, key, v) })
	}
	m.mu.Unlock()
	m.deliver()
	return true, false
}

// stopFetch ends the fetch pass and waits for it, or for ctx to end (Stop); no pass
// starts after it.
func (m *Map) stopFetch(ctx context.Context) {
	m.mu.Lock()
	m.fetch.stopped = true
	cancel, done := m.fetch.cancel, m.fetch.done
	m.mu.Unlock()
	if done == nil {
		return
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
