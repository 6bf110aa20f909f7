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

// fetchItem is an entry to fetch: its key's stream and the primary to ask.
type fetchItem struct {
	k       string
	primary channel.Member
}

// startFetch starts, after Start applied the state and the queued messages, the pass
// that asks the primaries for the values of the proxies naming this node as their
// backup. At most one pass runs, with fetchWorkers requests in flight, each bounded by
// RPCTimeout; a primary that gives no reply is not asked for its other entries; the
// pass ends with Stop, which waits for it within its context.
func (m *Map) startFetch() {
	if m.cfg.Replicated {
		return
	}
	local := m.cfg.Channel.LocalMember()
	var items []fetchItem
	m.mu.Lock()
	for k, e := range m.entries {
		if lacksBackupValue(e, local) {
			items = append(items, fetchItem{k: k, primary: *e.primary})
		}
	}
	m.mu.Unlock()
	// The primary is asked when the channel lists it: it may not be a map member yet
	// (its reply to MSG_INIT still on its way, handled as a left-over).
	listed := items[:0]
	for _, it := range items {
		if cm, ok := m.cfg.Channel.Member(it.primary.Key()); ok {
			listed = append(listed, fetchItem{k: it.k, primary: cm})
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
	m.log.Info("replmap: named the backup of entries without their values; asking their primaries",
		"map", m.cfg.Name, "entries", len(items))
	go m.runFetch(ctx, items, m.fetch.done)
}

// lacksBackupValue reports whether e is a proxy that names local among its backup nodes
// and another node as its primary.
func lacksBackupValue(e *entry, local channel.Member) bool {
	return e.role == roleProxy && e.primary != nil && !same(e.primary, local) && indexOf(e.nodes, local) >= 0
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
	var silent []channel.Member // primaries that gave no reply
	var missed int              // entries not fetched for that
	var wg sync.WaitGroup
	for range min(fetchWorkers, len(items)) {
		wg.Go(func() {
			for it := range work {
				mu.Lock()
				skip := indexOf(silent, it.primary) >= 0
				mu.Unlock()
				if !skip && (m.fetchValue(ctx, it) || ctx.Err() != nil) {
					continue
				}
				mu.Lock()
				missed++
				if indexOf(silent, it.primary) < 0 {
					silent = append(silent, it.primary)
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
		m.log.Warn("replmap: backup values not retrieved: their primary did not answer", "map", m.cfg.Name,
			"entries", missed, "primaries", len(silent))
	}
}

// noteRefusedDiffLocked counts a diff for k refused for want of a value, m.mu held, when
// the fetch pass that runs has k to fetch.
func (m *Map) noteRefusedDiffLocked(k string) {
	if n, ok := m.fetch.refused[k]; ok {
		m.fetch.refused[k] = n + 1
	}
}

// fetchValue asks it.primary for the value of the entry under it.k and makes the entry
// a backup holding it, if it still is a proxy naming this node as its backup and
// it.primary as its primary. A value whose request a diff for the key overtook (refused
// here, the node holding no value) may be older than that diff: it is asked for again,
// up to fetchTries times in all, and then left (the entry stays a proxy). Java's
// entries carry no version to compare. It reports false when the primary gave no reply.
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
				"from", it.primary.String(), "tries", try)
			return true
		}
	}
}

// fetchOnce is one request of fetchValue; stale reports that a diff for the key was
// refused since the refused count was before, the value not taken.
func (m *Map) fetchOnce(ctx context.Context, it fetchItem, before int) (replied, stale bool) {
	rctx, cancel := m.rpcContext(ctx)
	resp, err := m.call(rctx, []channel.Member{it.primary}, &message{Type: msgRetrieveBackup, Key: []byte(it.k)})
	cancel()
	if len(resp) == 0 {
		m.log.Debug("replmap: no reply to a backup value's request", "map", m.cfg.Name, "from", it.primary.String(), "err", err)
		return false, false
	}
	if resp[0].Message == nil { // the primary holds no entry for the key (removed)
		return true, false
	}
	mm, err := m.decodeReply(resp[0])
	var v any
	if err == nil {
		v, err = m.decodeValue(mm.Value)
	}
	if err != nil || v == nil {
		m.log.Warn("replmap: backup value from its primary", "map", m.cfg.Name, "from", it.primary.String(), "err", err)
		return true, false
	}
	local := m.cfg.Channel.LocalMember()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[it.k]
	if m.state == stateDestroyed || e == nil || !lacksBackupValue(e, local) || !same(e.primary, it.primary) {
		return true, false // changed meanwhile: a message told this node what it holds now
	}
	if m.fetch.refused[it.k] != before {
		return true, true
	}
	vbytes := int64(len(mm.Value))
	size := entrySize(it.k, vbytes, e.primary, e.nodes)
	mm.Type = msgBackup
	if m.admit(it.k, e, size, mm, it.primary) != nil {
		return true, false
	}
	e.value, e.vbytes, e.role = v, vbytes, roleBackup
	m.resize(e, size)
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
