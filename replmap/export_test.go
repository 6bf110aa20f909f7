package replmap

import (
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/rpc"
)

// SetState sets the state a map's ping replies report (tests only).
func SetState(m *Map, name string) {
	m.mu.Lock()
	m.state = state(slices.Index(stateNames[:], name))
	m.mu.Unlock()
}

// Primary returns the primary member m records for key, and whether it records one
// (tests only).
func Primary(m *Map, key any) (channel.Member, bool) {
	k, err := keyOf(key)
	if err != nil {
		return channel.Member{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[k]; e != nil && e.primary != nil {
		return *e.primary, true
	}
	return channel.Member{}, false
}

// ReceiveBackup has m process a MSG_BACKUP of key and value from a peer, with the local
// member and extra as backup nodes (tests only).
func ReceiveBackup(m *Map, from channel.Member, key, value any, extra ...channel.Member) error {
	return ReceiveBackupStamped(m, from, key, value, 0, extra...)
}

// ReceiveBackupStamped is ReceiveBackup of a message carrying stamp, the stamp of the
// write of value a Go node sends (0: none, as from a Java node; tests only).
func ReceiveBackupStamped(m *Map, from channel.Member, key, value any, stamp uint64, extra ...channel.Member) error {
	return ReceiveBackupClocked(m, from, key, value, stamp, 0, extra...)
}

// ReceiveBackupClocked is ReceiveBackupStamped of a message carrying clock too, the
// Lamport clock of that write (0: unknown, as from a Go node of the previous version;
// tests only).
func ReceiveBackupClocked(m *Map, from channel.Member, key, value any, stamp, clock uint64, extra ...channel.Member) error {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return err
	}
	vb, err := jserial.Marshal(value)
	if err != nil {
		return err
	}
	return m.received(context.Background(), &message{MapID: m.id, Type: msgBackup, Key: kb, Value: vb,
		Primary: &from, Nodes: append([]channel.Member{m.cfg.Channel.LocalMember()}, extra...), Stamp: stamp, Clock: clock}, from)
}

// StoredConsistent reports whether m's stored bytes are the sum of its entries' sizes,
// each entry's size up to date (tests only).
func StoredConsistent(m *Map) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum int64
	for k, e := range m.entries {
		if e.size != entrySize(k, e.vbytes, e.primary, e.nodes) {
			return false
		}
		sum += e.size
	}
	return sum == m.stored
}

// ReceiveDiff has m process a MSG_BACKUP of key with diff set, from a peer, with the
// local member as backup node (tests only).
func ReceiveDiff(m *Map, from channel.Member, key any, diff []byte) error {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return err
	}
	return m.received(context.Background(), &message{MapID: m.id, Type: msgBackup, Diff: true, Key: kb,
		DiffValue: diff, Primary: &from, Nodes: []channel.Member{m.cfg.Channel.LocalMember()}}, from)
}

// Held returns the value m holds under key without a Get (nil for a proxy or no entry;
// tests only).
func Held(m *Map, key any) any {
	k, err := keyOf(key)
	if err != nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[k]; e != nil {
		return e.value
	}
	return nil
}

// StateStream returns the stream of the state list m would send a joiner (tests only).
func StateStream(m *Map, copies bool) ([]byte, error) {
	list, err := m.stateList(copies)
	if err != nil {
		return nil, err
	}
	return jserial.Marshal(list)
}

// ReceiveProxy has m process a MSG_PROXY of key from a peer: from is the entry's
// primary and backup its backup node (tests only).
func ReceiveProxy(m *Map, from channel.Member, key any, backup channel.Member) error {
	return ReceiveProxyStamped(m, from, key, backup, 0)
}

// ReceiveProxyStamped is ReceiveProxy of a message carrying stamp, the stamp of the
// write of the value from holds (0: none, as from a Java node; tests only).
func ReceiveProxyStamped(m *Map, from channel.Member, key any, backup channel.Member, stamp uint64) error {
	return ReceiveProxyClocked(m, from, key, backup, stamp, 0)
}

// ReceiveProxyClocked is ReceiveProxyStamped of a message carrying clock too, the
// Lamport clock of the write (0: unknown; tests only).
func ReceiveProxyClocked(m *Map, from channel.Member, key any, backup channel.Member, stamp, clock uint64) error {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return err
	}
	return m.received(context.Background(), &message{MapID: m.id, Type: msgProxy, Key: kb,
		Primary: &from, Nodes: []channel.Member{backup}, Stamp: stamp, Clock: clock}, from)
}

// MessageType returns the MapMessage type (Java's MSG_* value) of a plain message's
// data, -1 when it holds no MapMessage (tests only).
func MessageType(data []byte) int {
	mm, err := newCodec(0, DefaultMaxMessageBytes).unmarshal(data)
	if err != nil {
		return -1
	}
	return int(mm.Type)
}

// FullValue reports whether a plain message's data holds a MapMessage carrying a value
// in full (not a diff; tests only).
func FullValue(data []byte) bool {
	mm, err := newCodec(0, DefaultMaxMessageBytes).unmarshal(data)
	return err == nil && !mm.Diff && mm.Value != nil
}

// DeliverBackup has m receive, as a plain message from the channel member from, a
// MSG_BACKUP of key and value (through Config.Values) with from as primary and the local
// member as backup node (tests only).
func DeliverBackup(m *Map, from channel.Member, key, value any) error {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return err
	}
	vb, err := m.marshalValue(value)
	if err != nil {
		return err
	}
	b, err := m.codec.marshal(&message{MapID: m.id, Type: msgBackup, Key: kb, Value: vb,
		Primary: &from, Nodes: []channel.Member{m.cfg.Channel.LocalMember()}})
	if err != nil {
		return err
	}
	return (&listener{m}).MessageReceived(&channel.Message{Source: from, Data: b})
}

// DeliverDiff has m receive, as a plain message from the channel member from, a
// MSG_BACKUP of key with diff set, from as primary and the local member as backup node
// (tests only).
func DeliverDiff(m *Map, from channel.Member, key any, diff []byte) error {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return err
	}
	b, err := m.codec.marshal(&message{MapID: m.id, Type: msgBackup, Diff: true, Key: kb, DiffValue: diff,
		Primary: &from, Nodes: []channel.Member{m.cfg.Channel.LocalMember()}})
	if err != nil {
		return err
	}
	return (&listener{m}).MessageReceived(&channel.Message{Source: from, Data: b})
}

// AnnounceStart sends m's MSG_START to its map members as Start does, again, and returns
// the members whose reply came (tests only).
func AnnounceStart(ctx context.Context, m *Map) ([]channel.Member, error) {
	resp, err := m.callMode(ctx, m.Members(), &message{Type: msgStart, Primary: m.local()}, rpc.AllReply)
	var replied []channel.Member
	for _, r := range resp {
		replied = append(replied, r.Member)
	}
	return replied, err
}

// StartPassesRunning reports whether a republish pass for members' MSG_STARTs runs or
// waits on m (tests only).
func StartPassesRunning(m *Map) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.starts.byMember {
		if p.done != nil {
			return true
		}
	}
	return false
}

// BeginStop does what Stop does first: it runs the members' waiting passes at once and
// waits for them, or for ctx (tests only: the window before the map is marked stopped).
func BeginStop(ctx context.Context, m *Map) { m.finishStarts(ctx) }

// StartPassMembers returns how many members m keeps MSG_START pass bookkeeping for
// (tests only).
func StartPassMembers(m *Map) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.starts.byMember)
}

// FetchRunning reports whether m's pass asking primaries for the values of the entries
// it backs up runs (tests only).
func FetchRunning(m *Map) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fetch.done == nil {
		return false
	}
	select {
	case <-m.fetch.done:
		return false
	default:
		return true
	}
}

// FetchWorkers is fetchWorkers (tests only).
const FetchWorkers = fetchWorkers

// MemberGone handles the entries of mb as when it leaves the map (tests only: a second
// departure of a member whose pass runs).
func MemberGone(m *Map, mb channel.Member) { m.memberGone(mb) }

// HoldAsJavaPrimary makes m hold value under key as a Java primary does, naming itself
// the primary and backup its backup node, sending nothing; the entry is not one its
// MSG_START pass publishes anew, as a Java primary publishes nothing on a member's
// MSG_START (tests only: a primary whose backup restarted without its MSG_STOP).
func HoldAsJavaPrimary(m *Map, key, value any, backup channel.Member) error {
	k, err := keyOf(key)
	if err != nil {
		return err
	}
	vb, err := m.marshalValue(value)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := &entry{key: key, value: value, vbytes: int64(len(vb)), role: roleBackup, primary: m.local(),
		nodes: []channel.Member{backup}}
	e.size = entrySize(k, e.vbytes, e.primary, e.nodes)
	m.store(k, e)
	return nil
}

// RPCRequestType returns the MapMessage type (Java's MSG_* value) of an RPC request's
// data, -1 when it holds none (a reply, a plain message; tests only).
func RPCRequestType(data []byte) int { return rpcType(data, false) }

// RPCReplyType returns the MapMessage type of an RPC reply's data, -1 when it holds none
// (a request, a plain message, a reply without a message; tests only).
func RPCReplyType(data []byte) int { return rpcType(data, true) }

func rpcType(data []byte, wantReply bool) int {
	v, err := jserial.Unmarshal(data)
	o, ok := v.(*jserial.Object)
	if err != nil || !ok || o.Class.Name != "org.apache.catalina.tribes.group.RpcMessage" {
		return -1
	}
	r := jserial.NewDataReader(o.External)
	if reply, err := r.ReadBool(); err != nil || reply != wantReply {
		return -1
	}
	for range 2 { // uuid, rpcId
		n, err := r.ReadInt32()
		if err != nil || n < 0 {
			return -1
		}
		if _, err := io.ReadFull(r, make([]byte, n)); err != nil {
			return -1
		}
	}
	payload, err := r.ReadObject()
	if err != nil {
		return -1
	}
	mm, err := decodeMessage(payload)
	if err != nil {
		return -1
	}
	return int(mm.Type)
}

// FetchFrom has m ask from for the value of key as its fetch pass does
// (MSG_RETRIEVE_BACKUP), taking it when m holds a proxy naming itself the backup and
// from the primary (tests only).
func FetchFrom(ctx context.Context, m *Map, key any, from channel.Member) error {
	k, err := keyOf(key)
	if err != nil {
		return err
	}
	m.fetchOnce(ctx, fetchItem{k: k, from: from}, 0)
	return nil
}

// KeyReplicatesListed returns how many keys m tracks the Replicates and Removes of for
// Put (tests only): none once no Replicate or Remove runs and no Put watches.
func KeyReplicatesListed(m *Map) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keyReplicates)
}

// KeyLockRefs returns how many goroutines hold or wait for the send lock of key (tests
// only).
func KeyLockRefs(m *Map, key any) int {
	k, err := keyOf(key)
	if err != nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.keyLocks[k]; l != nil {
		return l.refs
	}
	return 0
}

// ReceiveRemove has m process a MSG_REMOVE of key from a peer (tests only).
func ReceiveRemove(m *Map, from channel.Member, key any) error {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return err
	}
	return m.received(context.Background(), &message{MapID: m.id, Type: msgRemove, Key: kb}, from)
}

// QueuedCalls returns how many of m's calls to the application are queued and not
// started (tests only).
func QueuedCalls(m *Map) int { return m.calls.Len() }

// SetMaxQueuedCalls sets the bound of the calls a received message leaves queued and
// returns a function restoring it (tests only).
func SetMaxQueuedCalls(n int) func() {
	old := maxQueuedCalls
	maxQueuedCalls = n
	return func() { maxQueuedCalls = old }
}

// ReceivePrimaryRemoved has m process the MSG_REMOVE of key that from, its primary, sends
// its backup nodes once another member's MSG_REMOVE dropped it (forward.go; tests only).
func ReceivePrimaryRemoved(m *Map, from channel.Member, key any) error {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return err
	}
	return m.received(context.Background(), &message{MapID: m.id, Type: msgRemove, Key: kb, Primary: &from}, from)
}

// ForwardWaiters returns how many republishes of m wait for a forwarded removal's send
// (tests only).
func ForwardWaiters(m *Map) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.forwards.waiters
}

// Forwarders returns how many goroutines of m send forwarded removals and how many
// backup nodes have a queue of them (tests only).
func Forwarders(m *Map) (workers, queues int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.forwards.workers, len(m.forwards.queues)
}

// ForwardQueued returns how many forwarded removals m has queued, all backup nodes
// together, not counting those being sent (tests only).
func ForwardQueued(m *Map) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, q := range m.forwards.queues {
		n += len(q.keys)
	}
	return n
}

// RepublishWaiters returns how many republishes of m wait for another republish of
// their key (tests only).
func RepublishWaiters(m *Map) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.republishWaiters
}

// HoldRepublish marks a republish of key under way on m, as republishKey does while it
// publishes the entry, until the returned function is called (tests only: another
// republish of the key, such as a departure's pass, that a Put or Get waits for).
func HoldRepublish(m *Map, key string) (release func()) {
	k, _ := keyOf(key) // a string always marshals
	done := make(chan struct{})
	m.mu.Lock()
	if m.republishing == nil {
		m.republishing = make(map[string]chan struct{})
	}
	m.republishing[k] = done
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			delete(m.republishing, k)
			close(done)
			m.mu.Unlock()
		})
	}
}

// BackupNodes returns the backup nodes m's entry of key names (nil when it holds none).
func BackupNodes(m *Map, key any) []channel.Member {
	k, err := keyOf(key)
	if err != nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[k]; e != nil {
		return slices.Clone(e.nodes)
	}
	return nil
}

// SetNextBackup has m's next publish try mb first as the backup, as its round-robin
// would once it came to mb (tests only: a publish naming a chosen member).
func SetNextBackup(m *Map, mb channel.Member) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := indexOf(m.members, mb); i >= 0 {
		m.next = i
	}
}

// AskResend has m process a plain MSG_RETRIEVE_BACKUP of key from a peer naming the
// local node the primary and nodes (a departure pass stepping aside; tests only).
func AskResend(m *Map, from channel.Member, key any, nodes ...channel.Member) error {
	kb, err := jserial.Marshal(key)
	if err != nil {
		return err
	}
	m.resendAsked(&message{MapID: m.id, Type: msgRetrieveBackup, Key: kb, Primary: m.local(), Nodes: nodes}, from)
	return nil
}

// BackdateKept makes the value m's entry of key keeps (kept.go) look kept d earlier
// (tests only).
func BackdateKept(m *Map, key any, d time.Duration) {
	k, _ := keyOf(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	if since, ok := m.keptSince[k]; ok {
		m.keptSince[k] = since.Add(-d)
	}
}

// KeptMarks returns how many of m's keys hold a kept value or a Put's pass mark with
// its time (kept.go; tests only).
func KeptMarks(m *Map) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keptSince)
}

// SetKeptBounds sets the bounds of the values a map keeps (kept.go) and returns a
// function restoring them (tests only).
func SetKeptBounds(values int, bytes int64) func() {
	ov, ob := maxKeptValues, maxKeptBytes
	maxKeptValues, maxKeptBytes = values, bytes
	return func() { maxKeptValues, maxKeptBytes = ov, ob }
}

// KeptValues returns how many values m keeps and their bytes (kept.go; tests only).
func KeptValues(m *Map) (int, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keptCount, m.keptBytes
}

// Stamp returns the stamp of the entry m holds under key (stamp.go), 0 for none or no
// entry (tests only).
func Stamp(m *Map, key any) uint64 {
	k, err := keyOf(key)
	if err != nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[k]; e != nil {
		return e.stamp
	}
	return 0
}

// Clock returns the Lamport clock of the write of the value the entry m holds under key
// names (stamp.go), 0 for unknown or no entry (tests only).
func Clock(m *Map, key any) uint64 {
	k, err := keyOf(key)
	if err != nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[k]; e != nil {
		return e.clock
	}
	return 0
}

// PassesRunning returns how many passes of m run (beginPassLocked; tests only).
func PassesRunning(m *Map) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.passes.n
}

// MapClock returns the largest clock m made or heard of (Map.clock; tests only).
func MapClock(m *Map) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.clock
}
