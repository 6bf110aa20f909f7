package replmap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/rpc"
)

// A joiner closes the gap of Java's start, where members send a joiner their changes only
// once they handle its MSG_START, sent after the state transfer: what they put, removed
// or renamed after the donor's snapshot and before that never reached the joiner. Here
// the joiner sends MSG_START first and waits for the map members' replies, so that every
// change after the snapshot is sent to it too; it queues the map messages it receives
// from then on and applies them, in the order received, after the state's entries
// (TestPutDuringStateTransfer, TestRemoveDuringStateTransfer).

// queued is a map message received while the state transfer runs, or, with left set, a
// map member's departure (its MSG_STOP, or the channel no longer lists it): its entries
// are handled in turn, after the messages it sent before.
type queued struct {
	mm   *message
	from channel.Member
	size int
	left *channel.Member
}

// announce sends MSG_START (the joiner is ready for the map's messages) to every channel
// member and waits, within RPCTimeout, for the reply of each map member known so far
// (those whose MSG_INIT reply came): they handled it, so their later changes reach the
// joiner. The other channel members get it without a wait: a Java node without the map
// answers NoRpcChannelReply, but a Go node without any rpc.Channel (no map yet, another
// application only) answers nothing, and waiting for it would make every Start take
// RPCTimeout (TestStartWithMemberWithoutRPC); a map member among them that replies is
// added as the replies to MSG_INIT are (leftOver). From then on received map messages
// are queued until the state is applied (applyQueued). Only a failure to send, or ctx
// ending, is an error; missing replies are not.
func (m *Map) announce(ctx context.Context) error {
	m.mu.Lock()
	if m.state != stateDestroyed {
		m.queuing = true
		m.state = stateTransferred // a member's ping keeps it while it joins
	}
	m.mu.Unlock()
	members := m.cfg.Channel.Members()
	if len(members) == 0 {
		return nil
	}
	others := excludeListed(members, m.Members())
	known := exclude(members, others) // the channel members that are map members
	rctx, cancel := m.rpcContext(ctx)
	defer cancel()
	if len(others) > 0 {
		// A send that RPCTimeout cut short is no failure, as for a call's missing reply.
		_, err := m.callMode(rctx, others, &message{Type: msgStart, Primary: m.local()}, rpc.NoReply)
		if err != nil && (ctx.Err() != nil || rctx.Err() == nil) {
			return err
		}
	}
	if len(known) == 0 {
		return nil
	}
	resp, err := m.callMode(rctx, known, &message{Type: msgStart, Primary: m.local()}, rpc.AllReply)
	for _, r := range resp {
		m.mapMemberAdded(r.Member)
	}
	return startCallError(ctx, err)
}

// maxQueuedBytes bounds the data of the messages queued during a state transfer, with
// Config.MaxEntries bounding their number.
func (m *Map) maxQueuedBytes() int { return m.cfg.MaxMessageBytes }

// enqueue queues mm while the state transfer runs and reports whether it did. Beyond
// MaxEntries messages or MaxMessageBytes of their data it refuses mm with an error
// wrapping ErrLimit (FAIL_ACK to a synchronized-ack sender), counted in
// Stats.RefusedOverLimit and logged rate-limited. A lazy map refuses a diff for a key of
// which no value in full is queued (nor held, once the state is applied: queuedFull) with
// an error wrapping ErrDiff, counted in Stats.DiffsNotApplied: the state holds the key
// as a proxy at most, so the diff would find no value, and the sender's next Replicate
// sends the value in full (TestDiffToJoinerWithoutQueuedValueRefused,
// TestDiffWhileQueueAppliedNotRefused).
func (m *Map) enqueue(mm *message, from channel.Member, size int) (bool, error) {
	if mm.Type == msgStart || mm.Type == msgStop {
		return false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.queuing {
		return false, nil
	}
	if len(m.queue) >= m.cfg.MaxEntries || m.queuedBytes+size > m.maxQueuedBytes() {
		m.clock = max(m.clock, mm.Clock) // heard of all the same (update)
		m.refused++
		m.rlog.Log(slog.LevelWarn, from.String(), "join-queue", "replmap: message refused while joining, queue full",
			"map", m.cfg.Name, "from", from.String(), "queued", len(m.queue))
		return true, fmt.Errorf("%w: replmap %q: %s from %s while joining: %d messages queued",
			ErrLimit, m.cfg.Name, mm.Type, from.String(), len(m.queue))
	}
	if mm.Type == msgBackup && mm.Diff && !m.cfg.Replicated && !m.queuedFull(mm.Key) {
		// The state gives a lazy map's joiner proxies only: acknowledged, the diff would
		// find no value once applied, and the sender would take its changes for delivered
		// (a primary naming this node as the backup of an earlier map here).
		m.diffsNotApplied++
		m.rlog.Log(slog.LevelWarn, from.String(), "diff", "replmap: diff not applied", "map", m.cfg.Name,
			"from", from.String(), "err", "no value queued for the key while joining")
		return true, fmt.Errorf("replmap %q: %s from %s while joining: %w: no value queued for the key",
			m.cfg.Name, mm.Type, from.String(), ErrDiff)
	}
	m.queue = append(m.queue, queued{mm: mm, from: from, size: size})
	m.queueKeys = indexQueued(m.queueKeys, mm)
	m.queuedBytes += size
	return true, nil
}

// queuedKey is what the queue holds of a key, kept as each message of it is queued
// (queueKeys, applyingKeys) so that queuedFull and queuedValue answer without going
// through the queue: one refused diff each scanned it whole, m.mu held (about 4 ms at
// 200 000 messages queued), making a queue of diffs quadratic.
type queuedKey struct {
	// found is set once a message of the key other than a diff or an access is queued;
	// full then reports whether the last such is a value in full (MSG_BACKUP, MSG_COPY).
	found, full bool
	// value is the stream of the key's last message but accesses, if that is a value in
	// full; nil otherwise (a diff after it changes the value).
	value []byte
}

// indexQueued records mm, queued, in idx (nil: made), and returns idx.
func indexQueued(idx map[string]queuedKey, mm *message) map[string]queuedKey {
	if mm == nil {
		return idx
	}
	if idx == nil {
		idx = make(map[string]queuedKey)
	}
	k := string(mm.Key)
	q := idx[k]
	switch {
	case mm.Type == msgAccess || mm.Type == msgNotifyMember:
		return idx
	case (mm.Type == msgBackup || mm.Type == msgCopy) && mm.Diff:
		q.value = nil
	case mm.Type == msgBackup || mm.Type == msgCopy:
		q.found, q.full, q.value = true, mm.Value != nil, mm.Value
	default:
		q = queuedKey{found: true}
	}
	idx[k] = q
	return idx
}

// queuedFull reports whether the queue holds key's value in full (MSG_BACKUP, MSG_COPY)
// that no later message of the key made a proxy or removed (diffs and accesses after it
// apply to it), m.mu held. Once the state is applied, the part of the queue applyQueued
// applies now counts too, and without a message of the key there, the value the entry
// holds from the state and the parts applied before: a full value applyQueued took out
// of the queue is no reason to refuse its diffs (TestDiffWhileQueueAppliedNotRefused).
// It looks the key up in the queue's index (TestQueuedChecksUseTheIndex).
func (m *Map) queuedFull(key []byte) bool {
	for _, idx := range []map[string]queuedKey{m.queueKeys, m.applyingKeys} {
		if q := idx[string(key)]; q.found {
			return q.full
		}
	}
	if !m.stateApplied { // the state gives a lazy map proxies only
		return false
	}
	e := m.entries[string(key)]
	return e != nil && e.role != roleProxy && e.value != nil
}

// applyQueued applies the messages queued during the state transfer, in the order they
// came, then stops queuing; those that come meanwhile are applied after them. Failures
// are logged.
func (m *Map) applyQueued(ctx context.Context) {
	var failed int
	var first error
	for {
		m.mu.Lock()
		q := m.queue
		m.queue, m.queuedBytes = nil, 0
		m.applying, m.stateApplied = q, true
		m.applyingKeys, m.queueKeys = m.queueKeys, nil
		if len(q) == 0 || m.state == stateDestroyed {
			m.queuing, m.applying, m.applyingKeys = false, nil, nil
			m.mu.Unlock()
			break
		}
		m.mu.Unlock()
		for _, x := range q {
			if x.left != nil {
				m.memberGone(*x.left)
				continue
			}
			if err := m.received(ctx, x.mm, x.from); err != nil {
				failed, first = failed+1, cmp.Or(first, err)
			}
		}
	}
	if failed > 0 {
		m.log.Error("replmap: messages received while joining not applied", "map", m.cfg.Name, "count", failed, "first", first)
	}
}

// queuedValue returns the value stream of key's last message in the queue while the
// state transfer runs, if that is a value in full (MSG_BACKUP, MSG_COPY; later accesses
// change nothing), for a member's MSG_RETRIEVE_BACKUP: members pick the joiner as a
// backup from its MSG_START on (TestPutDuringStateTransfer). nil otherwise; m.mu held.
func (m *Map) queuedValue(key []byte) []byte { return m.queueKeys[string(key)].value }

// transferState asks the first map member for the entries (MSG_STATE: proxies;
// MSG_STATE_COPY: copies with their values); when it gives no reply before the context
// or RPCTimeout ends (it left, its map stopped, the request could not be sent), the next
// map member, within the same RPCTimeout (Java asks the first only). A donor that stops
// being a map member (its MSG_STOP, the channel dropping it) ends the wait for its reply
// at once (TestStateFromNextMemberWhenDonorStops). Failures are logged, as in Java.
func (m *Map) transferState(ctx context.Context) {
	members := m.Members()
	if len(members) == 0 {
		return
	}
	rctx, cancel := m.rpcContext(ctx)
	defer cancel()
	t := msgState
	if m.cfg.Replicated {
		t = msgStateCopy
	}
	var resp []rpc.Response
	for _, donor := range members {
		dctx, dcancel := context.WithCancel(rctx)
		m.mu.Lock()
		gone := indexOf(m.members, donor) < 0 // it left, or stopped its map, meanwhile
		if !gone {
			m.donor, m.donorCancel = donor.Key(), dcancel
		}
		m.mu.Unlock()
		if gone {
			dcancel()
			continue
		}
		var err error
		resp, err = m.call(dctx, []channel.Member{donor}, &message{Type: t})
		m.mu.Lock()
		m.donorCancel = nil
		m.mu.Unlock()
		dcancel()
		if len(resp) > 0 {
			break
		}
		m.log.Error("replmap: no state transfer reply", "map", m.cfg.Name, "from", donor.String(), "err", m.stateErr(err))
		if rctx.Err() != nil {
			return
		}
	}
	if len(resp) == 0 {
		return
	}
	msg, err := m.decodeReply(resp[0])
	var list []*message
	if err == nil {
		list, err = m.codec.stateList(msg.Value, m.cfg.MaxEntries)
		if errors.Is(err, jserial.ErrLimit) && !errors.Is(err, ErrLimit) {
			// Not a malformed list: this node's decoding limits refused it.
			err = fmt.Errorf("replmap: the state list is beyond this node's replmap Config.Limits "+
				"(MaxDepth, MaxArrayLen, MaxHandles; zero fields jserial's defaults) or MaxMessageBytes (%d): %w",
				m.cfg.MaxMessageBytes, err)
		}
	}
	if err != nil && !errors.Is(err, ErrLimit) {
		m.log.Error("replmap: state transfer", "map", m.cfg.Name, "err", err)
		return
	}
	if err != nil { // the entries beyond MaxEntries are dropped
		m.mu.Lock()
		m.refused++
		m.mu.Unlock()
		m.log.Error("replmap: state transfer", "map", m.cfg.Name, "err", err)
	}
	var failed int
	var first error
	for _, e := range list {
		if err := m.received(ctx, e, resp[0].Member); err != nil {
			failed, first = failed+1, cmp.Or(first, err)
		}
	}
	if failed > 0 {
		m.log.Error("replmap: state transfer entries dropped", "map", m.cfg.Name, "count", failed, "first", first)
	}
}

// stateErr returns the error of a state transfer call, wrapped with ErrStateTooLarge and
// the settings to raise when the reply was lost to one of this node's size limits.
func (m *Map) stateErr(err error) error {
	if !errors.Is(err, channel.ErrMessageTooLarge) && !errors.Is(err, jserial.ErrLimit) {
		return err
	}
	return fmt.Errorf("%w (it holds every entry of the donor): raise this node's transport frame limit "+
		"(transport/nio Config.MaxFrameSize, 16 MiB by default) and replmap Config.MaxMessageBytes (%d) above its size: %w",
		ErrStateTooLarge, m.cfg.MaxMessageBytes, err)
}
