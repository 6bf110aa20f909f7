package delta

import (
	"time"

	"github.com/gotribes/tribes/channel"
)

// MaxKnownRoutes is maxKnownRoutes, for the tests of package delta_test.
const MaxKnownRoutes = maxKnownRoutes

// TransferWindow is transferWindow, for the tests of package delta_test.
const TransferWindow = transferWindow

// QueuedForBatch returns how many messages of m wait for its send in flight to end, to
// go out in the next batch (tests only).
func QueuedForBatch(m *Manager) int {
	if m.batch == nil {
		return 0
	}
	m.batch.mu.Lock()
	defer m.batch.mu.Unlock()
	if m.batch.next == nil {
		return 0
	}
	return len(m.batch.next.msgs)
}

// CohortWait returns how many messages the leader of m's open batch waits for (0: it
// does not wait), whether waiting is turned off for now, and how many waits started
// (tests only).
func CohortWait(m *Manager) (want int, quiet bool, waits int) {
	if m.batch == nil {
		return 0, false, 0
	}
	b := m.batch
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next != nil {
		want = b.next.want
	}
	return want, time.Now().Before(b.quietUntil), b.waits
}

// ForgetLastBatch makes m's next batch leader that finds no send in flight not wait for
// its cohort, as if the last batch had ended long ago (tests only).
func ForgetLastBatch(m *Manager) {
	m.batch.mu.Lock()
	defer m.batch.mu.Unlock()
	m.batch.lastEnd = time.Time{}
}

// CohortBackoff returns how many AckedBatchWait periods m's next turning off of the
// cohort wait lasts (0: the shortest), and ends the current one if end (tests only).
func CohortBackoff(m *Manager, end bool) int {
	m.batch.mu.Lock()
	defer m.batch.mu.Unlock()
	if end {
		m.batch.quietUntil = time.Time{}
	}
	return m.batch.quiet
}

// DrainAsync waits until m's asynchronous replication queue has sent everything queued
// (tests only): with channeltest the members have then applied it.
func DrainAsync(m *Manager) {
	if m.async != nil {
		m.async.drain()
	}
}

// SetMaxRefreshQueue sets the bound on the messages waiting for a refresh and returns
// what puts the default back (tests only; not safe while managers run).
func SetMaxRefreshQueue(n int) (restore func()) {
	old := maxRefreshQueue
	maxRefreshQueue = n
	return func() { maxRefreshQueue = old }
}

// SetMaxHeld sets the bound on the messages a running manager's repair holds and returns
// what puts the default back (tests only; not safe while managers run).
func SetMaxHeld(n int) (restore func()) {
	old := maxHeld
	maxHeld = n
	return func() { maxHeld = old }
}

// RepairIdle reports whether m has no repair of a running manager under way (tests only).
func RepairIdle(m *Manager) bool {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	return m.live == nil
}

// SetRepairSettle sets how long a running manager's repair waits before each round and
// returns what puts the default back (tests only; read when a repair starts).
func SetRepairSettle(d time.Duration) (restore func()) {
	old := repairSettle
	repairSettle = d
	return func() { repairSettle = old }
}

// EncodeBatch is BinaryCodec's batch encoding of msgs (tests only).
func EncodeBatch(msgs ...*Message) ([]byte, error) {
	for _, m := range msgs {
		if m.Context == "" {
			m.Context = "localhost#/app"
		}
	}
	return BinaryCodec{}.appendBatch(nil, msgs)
}

// DecodeBatch is BinaryCodec's decoding of a batch (tests only).
func DecodeBatch(data []byte) ([]*Message, error) { return BinaryCodec{}.decodeBatch(data, nil, nil) }

// Lookup is m.lookup with get reading the sessions (tests only).
func Lookup(m *Manager, id string, get func(string) *Session) (s *Session, exact bool) {
	return m.lookup(id, get)
}

// MaxProbing is maxProbing, for the tests of package delta_test.
const MaxProbing = maxProbing

// OccupyProbes takes n of c's slots for probes run for others, as probes in progress
// would, and returns what frees one (tests only).
func OccupyProbes(c *Cluster, n int) (free func()) {
	for range n {
		c.cuts.probing <- struct{}{}
	}
	return func() { <-c.cuts.probing }
}

// ProbeRequest and ProbeResult are the probe messages of cut.go (tests only).
func ProbeRequest(target channel.UniqueID) []byte { return appendCut(nil, cutProbe, target, false) }

// ProbePing is the ping a node sends, on requester's behalf, to the member requester
// cannot see (tests only).
func ProbePing(requester channel.UniqueID) []byte { return appendCut(nil, cutPing, requester, false) }

// SetCutExpiry sets cutExpiry and returns what restores it (tests only).
func SetCutExpiry(d time.Duration) (restore func()) {
	old := cutExpiry
	cutExpiry = d
	return func() { cutExpiry = old }
}

// SetCutHoldOff sets cutHoldOff and returns what restores it (tests only).
func SetCutHoldOff(d time.Duration) (restore func()) {
	old := cutHoldOff
	cutHoldOff = d
	return func() { cutHoldOff = old }
}

func ProbeResult(target channel.UniqueID, reached bool) []byte {
	return appendCut(nil, cutResult, target, reached)
}

// OriginOf is originOf: the origin part of the stamps of member's changes.
func OriginOf(member channel.Member) uint32 { return originOf(member) }

// SetStamp gives attribute i of st the stamp (version, origin) and marks st as sent with
// stamps (AskStamps), as a member of this version sends it.
func SetStamp(st *SessionState, i int, version uint64, origin uint32) {
	st.stamped = true
	st.Attributes[i].version, st.Attributes[i].origin = version, origin
}

// Refusing is what the manager answers a change now: nil, or why it acknowledges none
// (refresh, a partial partition's stand-down, probes).
func (m *Manager) Refusing() error { return m.refusing() }

// ListenerNames returns the names of the listeners attached to s (tests only).
func ListenerNames(s *Session) []string { return s.listenerNames() }

// PauseUnlistedDrain has c call pause, once, when it starts handling the messages it
// held for a sender just listed, before the first of them (tests only).
func PauseUnlistedDrain(c *Cluster, pause func()) {
	c.unlisted.mu.Lock()
	defer c.unlisted.mu.Unlock()
	c.unlisted.drainHook = pause
}

// UnlistedPending returns how many messages c holds, handles or queues behind the drain
// of a sender's held ones, how many senders are being drained, and the bytes queued
// (tests only).
func UnlistedPending(c *Cluster) (pending int64, draining, queued int) {
	c.unlisted.mu.Lock()
	defer c.unlisted.mu.Unlock()
	return c.unlisted.pending.Load(), len(c.unlisted.draining), c.unlisted.queued
}

// SpareBatchArray reports the messages array m's batcher keeps for its next batch: its
// capacity (0: none kept) and how many of its elements, up to that capacity, still hold a
// message (tests only).
func SpareBatchArray(m *Manager) (capacity, held int) {
	m.batch.mu.Lock()
	defer m.batch.mu.Unlock()
	all := m.batch.spare[:cap(m.batch.spare)]
	for _, msg := range all {
		if msg != nil {
			held++
		}
	}
	return len(all), held
}

// SetNotStartedFor sets how long after NewManager made a manager that is neither started
// nor stopped c answers for its context as for a manager starting.
func SetNotStartedFor(c *Cluster, d time.Duration) {
	c.mu.Lock()
	c.notStartedFor = d
	c.mu.Unlock()
}

// ForgetRenamedFrom drops m's record of id as an old id, as its expiry does (tests only):
// the node forgot a rename away from id that a member may still keep a record of.
func ForgetRenamedFrom(m *Manager, id string) {
	m.gone.mu.Lock()
	defer m.gone.mu.Unlock()
	delete(m.gone.byID, removalKey(id, true))
}

// LeftIDs returns the ids a binder's renames took the session st away from, as a chunk
// carries them (AskLeft, AskRecentLeft).
func LeftIDs(st *SessionState) []string { return st.left }

// LeftOf returns the ids a binder's renames took the session m holds under id away
// from, with their times, oldest first.
func LeftOf(m *Manager, id string) (ids []string, at []int64) {
	s := m.st.get(id)
	if s == nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return leftIDs(s.e().left), leftTimes(s.e().left)
}
