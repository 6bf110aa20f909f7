package replmap

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/rpc"
)

// streamPrefix starts every serialized MapMessage: the stream header, TC_OBJECT,
// TC_CLASSDESC and the class name.
var streamPrefix = append([]byte{0xAC, 0xED, 0x00, 0x05, 0x73, 0x72, 0, byte(len(messageClass))}, messageClass...)

// listener is the map's message and heartbeat listener on the channel (its membership
// listener is a separate channel.MembershipFuncs: a listener registered both ways would
// get every heartbeat twice).
type listener struct{ m *Map }

// Accept takes plain (not RPC) MapMessages without decoding them; MessageReceived
// ignores those of other maps.
func (l *listener) Accept(msg *channel.Message) bool {
	return msg.Options&channel.OptByteMessage == 0 && bytes.HasPrefix(msg.Data, streamPrefix)
}

// MessageReceived applies a map member's message. One from a sender that is not a
// member of the channel (which delivers it when configured with AcceptNonMembers) is
// dropped before it is decoded, counted and logged rate-limited, and the error wraps
// channel.ErrNotMember (FAIL_ACK to a synchronized-ack sender), as session/delta does.
func (l *listener) MessageReceived(msg *channel.Message) error {
	src, err := l.m.fromMember(msg.Source, "message")
	if err != nil {
		return err
	}
	mm, err := l.m.codec.unmarshal(msg.Data)
	if err != nil {
		return err
	}
	if !bytes.Equal(mm.MapID, l.m.id) {
		return nil
	}
	if err := l.m.refuseStopped(mm, src); err != nil {
		return err
	}
	if mm.Type == msgRetrieveBackup { // plain, not an RPC: a Go pass that stepped aside (resend.go)
		l.m.resendAsked(mm, src)
		return nil
	}
	if ok, err := l.m.enqueue(mm, src, len(msg.Data)); ok {
		return err
	}
	return l.m.received(context.Background(), mm, src)
}

// fromMember returns the channel's record of src, a message's sender (src itself for a
// member listed by address alone: channelMember), or, when src is not a member of the
// channel, counts and logs that and returns an error wrapping channel.ErrNotMember.
// Java's map applies anyone's message.
func (m *Map) fromMember(src channel.Member, what string) (channel.Member, error) {
	if cm, ok := m.channelMember(src); ok {
		return cm, nil
	}
	m.mu.Lock()
	m.nonMember++
	m.mu.Unlock()
	m.rlog.Log(slog.LevelWarn, src.Addr(), "non-member", "replmap: ignoring a map "+what+" from a sender that is not a member of the channel",
		"map", m.cfg.Name, "source", src.String())
	return channel.Member{}, fmt.Errorf("%w: replmap %q: %s from %s", channel.ErrNotMember, m.cfg.Name, what, src.Addr())
}

// Heartbeat implements channel.Heartbeater: the channel's heartbeat pings the map members.
func (l *listener) Heartbeat() { l.m.heartbeat() }

// received applies a plain message, or an entry of a state transfer
// (AbstractReplicatedMap.messageReceived).
func (m *Map) received(ctx context.Context, mm *message, from channel.Member) error {
	if mm.refused != nil {
		return mm.refused
	}
	if err := m.namesItself(mm, from); err != nil {
		return err
	}
	switch mm.Type {
	case msgStart:
		m.setStopped(from, false)
		if mm.Primary != nil {
			m.memberStarted(*mm.Primary)
		}
		return nil
	case msgStop:
		m.setStopped(from, true)
		if mm.Primary != nil {
			m.memberDisappeared(*mm.Primary)
		}
		return nil
	}
	var key, value any
	if mm.Type == msgBackup || mm.Type == msgCopy || mm.Type == msgProxy {
		var err error
		if value, err = m.decodeValue(mm.Value); err != nil {
			return err
		}
		if key, err = m.codec.value(mm.Key); err != nil {
			return err
		}
	}
	held, call, err := m.update(key, value, mm, from)
	m.deliverReceived(ctx, call) // Config.Removed, a value's Accessed (calls.go)
	switch {
	case err != nil:
		return err
	case mm.Diff && (mm.Type == msgBackup || mm.Type == msgCopy):
		if _, ok := held.(noValue); ok {
			return m.diffNotApplied(fmt.Errorf("replmap %q: %s from %s: %w: no value held for the key",
				m.cfg.Name, mm.Type, from.String(), ErrDiff), from)
		}
		d, _ := held.(Diffable)
		return m.applyDiff(d, mm, from)
	}
	return nil
}

// namesItself refuses a MSG_START or MSG_STOP whose primary, the map member it says
// started or stopped, is not its sender, with an error wrapping ErrBadMessage, logged
// rate-limited: Java writes its own member there, and a member naming another one made
// this node drop a live map member (TestStopNamingAnotherMemberRefused). Java's map
// takes the member the message names.
func (m *Map) namesItself(mm *message, from channel.Member) error {
	if mm.Type != msgStart && mm.Type != msgStop || mm.Primary == nil || same(mm.Primary, from) {
		return nil
	}
	m.rlog.Log(slog.LevelWarn, from.Addr(), "names-other", "replmap: ignoring a map message naming another member than its sender",
		"map", m.cfg.Name, "type", mm.Type.String(), "from", from.String(), "names", mm.Primary.String())
	return fmt.Errorf("%w: replmap %q: %s from %s names %s", ErrBadMessage, m.cfg.Name, mm.Type, from.Addr(), mm.Primary.Addr())
}

// noValue is what update returns for a diff (MSG_BACKUP, MSG_COPY) for a key the node
// holds no value of (no entry, or a proxy): the entry is left as it was.
type noValue struct{}

// update applies a received message to the entry under its key and returns the entry's
// value for a diff (MSG_BACKUP, MSG_COPY) to apply to. It queues the call of
// Config.Removed for the entry a MSG_REMOVE dropped, and that of the held value's
// Accessed for an access (MSG_ACCESS, MSG_NOTIFY_MAPMEMBER), and returns the channel
// closed once that call returned (nil if none): the caller delivers them.
func (m *Map) update(key, value any, mm *message, from channel.Member) (_ any, call chan struct{}, _ error) {
	k := string(mm.Key)
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[k]
	apply := false // the message's value replaces the entry's
	var held any
	switch mm.Type {
	case msgRemove:
		if forwardedRemoveIgnored(mm, e, from) {
			return nil, nil, nil
		}
		if mm.Primary == nil {
			m.forwardRemoveLocked(k, e, from) // a primary dropped tells its backups (forward.go)
		}
		if e != nil && m.cfg.Removed != nil {
			key, value := e.key, e.value
			call = m.queueCallLocked(func() { m.cfg.Removed(key, value) })
		}
		m.forgetKeptLocked(k, e)
		m.drop(k)
		m.removedByLocked(k, from)
		return nil, call, nil
	}
	// The map hears of the message's clock whatever becomes of it: refused over the
	// limits below, its write is still one a Put here must come after (stamp.go:
	// TestJoinersPutAfterRefusedWritesCrossedByTheOldPrimarysReplicateKeepsThePut).
	m.clock = max(m.clock, mm.Clock)
	// A publish of a value older than the one the entry names (their clocks: stamp.go)
	// is not applied: a departure pass's or a takeover's that a newer write crossed.
	if m.olderLocked(e, mm, from) {
		return nil, nil, nil
	}
	// A MSG_PROXY that may be a departure pass's, sent before the local Put it demotes
	// reached the pass's node, keeps the Put's value (kept.go); a takeover of that pass's
	// older value gives it back (supersededLocked); any other message of the key drops a
	// value kept.
	if m.supersededLocked(k, e, mm) {
		return nil, nil, nil
	}
	keep := m.keepsLocked(e, mm, from)
	if !keep {
		m.forgetKeptLocked(k, e)
	}
	if mm.Type == msgProxy || !mm.Diff && (mm.Type == msgBackup || mm.Type == msgCopy) {
		m.publishedByLocked(k, from)
		// Also when admit refuses it: the publish's node may be left naming this node.
		m.publishedDuringRemoveLocked(k)
	}
	switch mm.Type {
	case msgProxy:
		// A proxy holds no value: a primary or backup another node's Get or Put turned
		// into one drops the value it held, a copy that no longer changes.
		apply, value = true, nil
	case msgBackup, msgCopy:
		if mm.Diff && (e == nil || e.role == roleProxy || e.value == nil) {
			// Nothing to apply the diff to: making an entry without a value of it would
			// let a Get here take the entry over with no value. A value fetched for
			// the key meanwhile may be older than the diff (fetch.go).
			m.noteRefusedDiffLocked(k)
			return noValue{}, nil, nil
		}
		apply = !mm.Diff && value != nil
		if mm.Diff {
			held = e.value
		}
	case msgAccess, msgNotifyMember:
		if e == nil {
			return nil, nil, nil
		}
		held = e.value
	default:
		return nil, nil, nil
	}
	vbytes := e.valueBytes()
	switch {
	case mm.Type == msgProxy && !keep:
		vbytes = 0
	case apply && !keep:
		vbytes = int64(len(mm.Value))
	}
	size := entrySize(k, vbytes, mm.Primary, mm.Nodes)
	if err := m.admit(k, e, size, mm, from); err != nil {
		return nil, nil, err
	}
	if keep {
		m.keepLocked(k, e)
	}
	if e == nil {
		e = &entry{key: key}
		m.store(k, e)
	}
	if apply {
		e.value, e.vbytes = value, vbytes
	}
	switch {
	case mm.Type == msgProxy || apply:
		e.stamp, e.clock = mm.Stamp, mm.Clock // the write of the value it names (stamp.go)
		if mm.Unordered {
			e.clock = 0 // heard of (below), ordering nothing
		}
	case mm.Diff:
		// A change whose stamp diffs do not carry; its clock is the entry's, as a
		// Replicate's in full (stamp.go).
		e.stamp = 0
	}
	m.clock = max(m.clock, mm.Clock, e.clock)
	// A replicated map's copy the sender named its own (its departure pass's
	// MSG_NOTIFY_MAPMEMBER, which reached this node after this node's Get took the entry
	// over), now named this node's by the sender: the pass stepped aside for this node
	// (republishKey), and the entry is the primary here again
	// (TestReplicatedGetDuringTheDeparturePassLeavesOnePrimary). Java never names the
	// receiver the primary in a MSG_NOTIFY_MAPMEMBER, and keeps its entry primary on one
	// naming another node.
	back := m.cfg.Replicated && mm.Type == msgNotifyMember && e.role == roleCopy && e.value != nil &&
		same(mm.Primary, m.cfg.Channel.LocalMember()) && same(e.primary, from)
	e.nodes, e.primary = mm.Nodes, mm.Primary
	switch mm.Type {
	case msgProxy:
		e.role = roleProxy
		e.claims++
	case msgBackup:
		e.role = roleBackup
		e.claims++
	case msgCopy:
		e.role = roleCopy
		e.claims++
	case msgNotifyMember:
		// Another node of a replicated map took the entry over (its Get): this node
		// holds a copy from now on, so that its own Get takes the entry back before a
		// Replicate (by its source, Java keeps the entry primary here, its backup nodes
		// then naming only this node, and a later replicate reaches no other node).
		if m.cfg.Replicated && e.role == rolePrimary && mm.Primary != nil && !same(mm.Primary, m.cfg.Channel.LocalMember()) {
			e.role = roleCopy
			e.claims++
		}
		if back {
			e.role = rolePrimary
		}
	}
	m.resize(e, size)
	if a, ok := held.(AccessReplicated); ok && (mm.Type == msgAccess || mm.Type == msgNotifyMember) {
		call = m.queueCallLocked(a.Accessed)
		held = nil
	}
	return held, call, nil
}

// reply answers the map's RPCs (AbstractReplicatedMap.replyRequest).
func (m *Map) reply(req any, sender channel.Member) (any, error) {
	mm, err := decodeMessage(req)
	if err != nil {
		return nil, err
	}
	switch mm.Type {
	case msgRetrieveBackup, msgState, msgStateCopy:
		// They give away entries: a member's only (MSG_INIT, MSG_START and MSG_PING
		// are answered to a joiner not listed yet, as before; MSG_START adds only a
		// member of the channel).
		if _, err := m.fromMember(sender, mm.Type.String()+" request"); err != nil {
			return nil, err
		}
	}
	switch mm.Type {
	case msgInit:
		m.setStopped(sender, false)
		mm.Primary = m.local()
	case msgStart:
		m.setStopped(sender, false)
		mm.Primary = m.local()
		m.memberStarted(sender)
	case msgRetrieveBackup:
		m.mu.Lock()
		e := m.entries[string(mm.Key)]
		var v any
		var queued []byte
		primary := false
		var sends uint64
		var replicating int
		if e != nil {
			v, primary, sends, replicating = e.value, e.role == rolePrimary, e.sends, e.replicating
		} else {
			queued = m.queuedValue(mm.Key)
		}
		m.mu.Unlock()
		if queued != nil {
			mm.Value = queued
			break
		}
		if e == nil {
			return nil, nil
		}
		if v != nil {
			dirty := primary && dirtyDiffable(v) // read before the marshal (dirtyDiffable)
			b, err := m.marshalValue(v)
			if err != nil {
				return nil, err
			}
			mm.Value = b
			if _, ok := v.(Diffable); ok && primary {
				// The asker (a Java node's Get, a restarted backup's fetch) holds the
				// changes: the next Replicate sends the value in full.
				m.answerSent(string(mm.Key), e, dirty || dirtyDiffable(v), sends, replicating)
			}
		}
	case msgState, msgStateCopy:
		list, err := m.stateList(mm.Type == msgStateCopy)
		if err != nil {
			return nil, err
		}
		b, err := jserial.Marshal(list)
		if err != nil {
			return nil, err
		}
		mm.Value = b
	case msgPing:
		m.mu.Lock()
		s := m.state
		m.mu.Unlock()
		b, err := jserial.Marshal(&jserial.Enum{Class: m.codec.state, Name: stateNames[s]})
		if err != nil {
			return nil, err
		}
		mm.Value, mm.Primary = b, m.local()
	default:
		return nil, nil
	}
	return m.codec.object(mm)
}

// stateList returns every entry as a MSG_PROXY message, or with copies as a MSG_COPY
// message with its value (the value of a state reply).
func (m *Map) stateList(copies bool) ([]any, error) {
	m.mu.Lock()
	type item struct {
		k       string
		value   any
		primary *channel.Member
		nodes   []channel.Member
		e       *entry
	}
	items := make([]item, 0, len(m.entries))
	for k, e := range m.entries {
		items = append(items, item{k, e.value, e.primary, e.nodes, e})
	}
	// The first entry carries the largest clock the map made or heard of, unordered
	// (stamp.go): a Go joiner hears of it, holding its entries' clocks as unknown, so
	// that its Puts of the keys are ordered after the writes the donor heard of
	// (TestJoinersPutCrossedByTheOldPrimarysReplicateKeepsThePut).
	clock := m.clock
	m.mu.Unlock()
	list := make([]any, 0, len(items))
	var mo memberObjects // the entries share their members' objects
	for _, it := range items {
		msg := &message{MapID: m.id, Type: msgProxy, Key: []byte(it.k), Primary: it.primary, Nodes: it.nodes,
			Clock: clock, Unordered: true}
		clock = 0
		if copies {
			msg.Type = msgCopy
			if it.value != nil {
				b, err := m.marshalValue(it.value)
				if err != nil {
					return nil, err
				}
				msg.Value = b
				if dirtyDiffable(it.value) {
					m.fullSent(it.k, it.e)
				}
			}
		}
		o, err := m.codec.objectWith(msg, &mo)
		if err != nil {
			return nil, err
		}
		list = append(list, o)
	}
	return list, nil
}

// leftOver takes replies that came after their call returned (RpcCallback.leftOver):
// the other members' answers to MSG_INIT, MSG_START and MSG_PING. Only a reply that
// names its sender counts (a member answers with its own member, as Java does): the
// RPC channel hands it any sender's reply to a call it does not know, a stranger's
// too on a channel with AcceptNonMembers, and one naming another channel member made
// that member a map member, whether or not it runs the map, among those Puts pick a
// backup from (TestLeftOverReplyNamingAnotherMemberIgnored). Java's map takes the
// member named.
func (m *Map) leftOver(v any, from channel.Member) {
	mm, err := decodeMessage(v)
	if err != nil || mm.Primary == nil || !same(mm.Primary, from) {
		return
	}
	switch mm.Type {
	case msgStart:
		m.mapMemberAdded(*mm.Primary)
	case msgInit:
		m.memberAlive(*mm.Primary)
	case msgPing:
		if m.pingState(mm) == stateInitialized {
			m.memberAlive(*mm.Primary)
		}
	}
}

// pingState returns the state a ping reply reports (stateNew when it says none).
func (m *Map) pingState(mm *message) state {
	v, err := m.codec.value(mm.Value)
	if e, ok := v.(*jserial.Enum); ok && err == nil {
		if i := slices.Index(stateNames[:], e.Name); i >= 0 {
			return state(i)
		}
	}
	return stateNew
}

func (m *Map) memberAlive(mb channel.Member) {
	m.mapMemberAdded(mb)
	m.touch(mb)
}

// touch records that a map member answered.
func (m *Map) touch(mb channel.Member) {
	m.mu.Lock()
	if indexOf(m.members, mb) >= 0 {
		m.lastSeen[mb.Key()] = time.Now()
	}
	m.mu.Unlock()
}

// heartbeat pings the map members (AbstractReplicatedMap.ping): members that answer
// INITIALIZED are alive; members silent for AccessTimeout are dropped.
func (m *Map) heartbeat() {
	m.mu.Lock()
	s, stopped := m.state, m.stopped
	m.mu.Unlock()
	if s != stateInitialized {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.AccessTimeout)
	defer cancel()
	go func() {
		select {
		case <-stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	if members := m.cfg.Channel.Members(); len(members) > 0 {
		resp, err := m.callMode(ctx, members, &message{Type: msgPing, Primary: m.local()}, rpc.AllReply)
		for _, r := range resp {
			mm, derr := m.decodeReply(r)
			if derr != nil {
				continue
			}
			switch m.pingState(mm) {
			case stateInitialized:
				m.memberAlive(r.Member)
			case stateTransferred: // starting: alive, but not added
				m.touch(r.Member)
			}
		}
		for _, f := range channel.FaultyMembers(err) {
			for _, mb := range m.mapMembersOf(f.Member) { // for a record listed by address alone, the nodes there
				m.memberDisappeared(mb)
			}
		}
	}
	now := time.Now()
	m.dropOldKept(now)
	m.mu.Lock()
	var silent []channel.Member
	for _, mb := range m.members {
		if now.Sub(m.lastSeen[mb.Key()]) > m.cfg.AccessTimeout {
			silent = append(silent, mb)
		}
	}
	m.mu.Unlock()
	for _, mb := range silent {
		m.log.Warn("replmap: map member silent, dropped", "map", m.cfg.Name, "member", mb.String())
		m.memberDisappeared(mb)
	}
}
