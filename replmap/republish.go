package replmap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
)

// mapMemberAdded adds a channel member to the map members; a new one gets a backup of
// every primary entry that has none yet, in a pass Stop waits for
// (TestStopWaitsForTheJoinRepublish); in a replicated map, the next Replicate of each
// Diffable primary entry sends it in full. A stopped map adds none.
func (m *Map) mapMemberAdded(mb channel.Member) {
	if mb.Key() == m.cfg.Channel.LocalMember().Key() {
		return
	}
	cm, ok := m.channelMember(mb)
	if !ok {
		m.log.Warn("replmap: map member is not a channel member", "map", m.cfg.Name, "member", mb.String())
		return
	}
	m.mu.Lock()
	if indexOf(m.members, cm) >= 0 || m.state == stateDestroyed {
		m.mu.Unlock()
		return
	}
	m.members = append(m.members, cm)
	m.lastSeen[cm.Key()] = time.Now()
	var orphans []string
	for k, e := range m.entries {
		switch {
		case e.role != rolePrimary:
		case m.cfg.Replicated: // the newcomer took the copies by state transfer
			if indexOf(e.nodes, cm) < 0 {
				e.nodes = slices.Clone(m.members)
				m.account(k, e)
				if _, ok := e.value.(Diffable); ok {
					// A joiner queues what it gets until its state is applied, and a
					// diff sent before the donor's snapshot would apply there twice:
					// the next Replicate sends the value in full, which replaces the
					// state's (TestReplicatedDiffBeforeSnapshotAppliedOnce).
					e.failed++
				}
			}
		case len(e.nodes) == 0:
			orphans = append(orphans, k)
		}
	}
	if len(orphans) == 0 {
		m.mu.Unlock()
		return
	}
	// A pass Stop waits for (passes.go): the newcomer gets the backups before the
	// MSG_STOP, and nothing is sent once the map is stopped.
	m.beginPassLocked()
	m.mu.Unlock()
	defer m.endPass()
	m.republish(m.life, orphans, nil)
}

// republish publishes the entries under keys anew, with the local node as primary (a
// replicated map only tells the members, which hold copies), until ctx ends; failures
// are logged. gone is the member whose departure the pass handles (nil for another
// pass): see republishKey.
func (m *Map) republish(ctx context.Context, keys []string, gone *channel.Member) {
	for _, k := range keys {
		if ctx.Err() != nil {
			return
		}
		if _, err := m.republishKey(ctx, k, m.cfg.Replicated, false, gone, 0); err != nil {
			m.log.Error("replmap: relocate", "map", m.cfg.Name, "err", err)
		}
	}
}

// errNotOrphan is republishKey's answer to Replicate when the entry it was to publish
// needs it no more.
var errNotOrphan = errors.New("replmap: the entry has a backup node")

// maxRepublish bounds how often republishKey publishes an entry again because a backup
// node it picked left meanwhile.
const maxRepublish = 4

// republishKey publishes the entry under k anew with the local node as primary and
// returns its backup nodes: its value to the next backup in turn (publish), or with
// notify MSG_NOTIFY_MAPMEMBER to the members of a replicated map, which hold copies. A
// backup node that left before the entry named it (memberDisappeared, which ran
// meanwhile, could not see it there) makes it publish again. So does a Replicate of the
// entry while it published the value: its message, sent from another goroutine, may
// have reached the backup before this one, which then held the older value read before
// it, the change lost there (TestStartPassOvertakenByReplicateSendsAgain); when that
// still happens the last time, the next Replicate sends the value in full.
// Once the map is stopped it publishes nothing.
//
// It reads the entry once no forwarded removal of the key is being sent (forward.go),
// and waits for one that is: that removal, which the node sends only while it holds no
// entry of the key, would otherwise reach the backup after the publish and drop the
// backup it made (TestForwardedRemoveDoesNotDropARepublishedBackup); one checked after
// the read finds the entry, and is not sent. It takes no key lock: a pass republishing
// on a membership event's goroutine does not wait for a Put's or Replicate's send, only
// for another republish of the same key (below), whose sends the transport's send
// timeout bounds.
//
// Republishes of one key run one after the other: one waits for another under way, and
// returns an error wrapping ctx's when ctx ends first. Two together (a departure's pass
// and a Replicate of an entry whose backup left, or a Put's) each sent its MSG_BACKUP to
// a member and its MSG_PROXY to the other's, which could turn both backups into proxies
// (TestReplicateAndADeparturePassRepublishOneAfterTheOther). A Put, or a backup's Get
// taking the entry over, publishes without it, and so publishes again through it when
// a republish of the key ran beside its publish (keyReplicates.republishes counts those
// begun): TestPutDuringTheDeparturePassOfTheEntryItReplaces,
// TestGetOnTheBackupDuringTheDeparturePassThatTakesItOver.
//
// A member that takes the entry over while this node publishes it (a Get on the backup
// the publish just made, whose MSG_BACKUP names this node its backup; a Get on a proxy,
// whose MSG_PROXY drops the value here; another member's Put) keeps it: once the publish
// returns, an entry a received message made a backup of a map member other than the
// local node, or a proxy, is left as it is, where the republish made it the primary
// again, two nodes primary of the key (TestGetOnTheBackupAPassJustGaveTheEntry). The
// publish's MSG_PROXY, naming the local node the primary, may have reached the other
// members after that member's: a lazy map sends them, but that member and the backup
// nodes it names, a MSG_PROXY naming it, so that a Get there asks the backup, not a
// primary. When that member named a third member its backup, the publish's MSG_PROXY,
// reaching it after that member's MSG_BACKUP, turned it into a proxy: the new primary is
// asked to send its value there again (resend.go;
// TestGetNamingAThirdMemberDuringTheDeparturePassOverTCP). A replicated map's pass sends
// every member a MSG_NOTIFY_MAPMEMBER naming the new primary, whose entry the pass's own
// made a copy and which takes it back (update;
// TestReplicatedGetDuringTheDeparturePassLeavesOnePrimary). A takeover received after the
// publish returned is not seen. Java's departure pass sets the entry's primary and backup
// nodes and leaves its role: a Java node ends a backup there, naming itself the primary
// until the next replicate.
//
// With orphan set (Replicate's republish of an entry none of whose backup nodes is a
// map member) it publishes nothing and returns errNotOrphan when, once no other
// republish of the key is under way, the entry has a backup node that is a map member
// (the republish it waited for, a departure's pass, gave it one) or is no longer the
// local node's primary: publishing it again would only move its backup
// (TestReplicateAndADeparturePassRepublishOneAfterTheOther counts the MSG_BACKUPs).
//
// With restored set (a kept value taken back and published anew, supersededLocked: its
// stamp) it publishes nothing when, each time it reads the entry, the entry is no
// longer the local primary of that value: another member's publish of the key with a
// stamp of its own reached the node since, a newer write, which the publish anew must
// not override (TestKeptValueRestoredThenAThirdNodesPutBeforeThePublishReadsTheEntry).
//
// With gone set (the pass of gone's departure) it publishes nothing when, once no other
// republish of the key is under way, the entry is the local node's primary and has
// backup nodes, all of them map members and none gone: a republish since the departure
// (a Replicate's of the entry whose backup left, or a backup's Get taking it over) gave
// it a backup, and publishing it again would only move that backup
// (TestDeparturePassAfterAReplicatesRepublishPublishesNothingMore counts the messages).
func (m *Map) republishKey(ctx context.Context, k string, notify, orphan bool, gone *channel.Member, restored uint64) ([]channel.Member, error) {
	m.mu.Lock()
	if err := m.awaitRepublishLocked(ctx, k); err != nil {
		stopped := m.state == stateDestroyed
		m.mu.Unlock()
		if stopped {
			return nil, nil
		}
		return nil, err
	}
	if e := m.entries[k]; orphan && (e == nil || e.role != rolePrimary || m.anyMember(e.nodes)) {
		m.mu.Unlock()
		return nil, errNotOrphan
	}
	if e := m.entries[k]; gone != nil && e != nil && e.role == rolePrimary && len(e.nodes) > 0 &&
		!m.departed(e.nodes) && indexOf(e.nodes, *gone) < 0 {
		nodes := slices.Clone(e.nodes)
		m.mu.Unlock()
		return nodes, nil
	}
	done := make(chan struct{})
	if m.republishing == nil {
		m.republishing = make(map[string]chan struct{})
	}
	m.republishing[k] = done
	if kr := m.keyReplicates[k]; kr != nil {
		kr.republishes++ // for a Put of the key under way (Put)
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.republishing, k)
		close(done)
		m.mu.Unlock()
	}()
	var nodes []channel.Member
	for i := range maxRepublish {
		m.mu.Lock()
		if err := m.awaitForwardLocked(ctx, k); err != nil {
			stopped := m.state == stateDestroyed
			m.mu.Unlock()
			if stopped {
				return nil, nil
			}
			return nodes, err
		}
		e := m.entries[k]
		if e == nil || e.role == roleProxy || m.state == stateDestroyed { // removed meanwhile, holds no value, or stopped
			m.mu.Unlock()
			return nil, nil
		}
		if restored != 0 && (e.role != rolePrimary || e.stamp != restored) { // a newer write reached the node (kept.go)
			m.mu.Unlock()
			return nil, nil
		}
		key, value, stamp, clock, read, sends, claims := e.key, e.value, e.stamp, e.clock, e, e.sends, e.claims
		m.mu.Unlock()
		var err error
		// Read before the marshal as well: a Replicate that read the entry before this
		// may take the Diff after it, the changes in what publish sends all the same.
		dirty := !notify && dirtyDiffable(value)
		if notify {
			nodes, err = m.notifyPrimary(ctx, k)
		} else {
			nodes, err = m.publish(ctx, key, value, stamp, clock, false)
		}
		dirty = dirty || !notify && dirtyDiffable(value)
		m.mu.Lock()
		if e = m.entries[k]; e != nil && (e != read || e.claims != claims) && m.takenOverLocked(e) {
			// Another member took the entry over while this node published it: a Get on
			// the backup the publish just made, which named this node its backup, or
			// a member's Put. Making it primary again would leave two primaries
			// (TestGetOnTheBackupAPassJustGaveTheEntry); the publish's MSG_PROXY, sent
			// after that member's, named this node the primary on the others.
			var fix, ask *message
			var dest []channel.Member
			if !notify && e.primary != nil && !same(e.primary, m.cfg.Channel.LocalMember()) && indexOf(m.members, *e.primary) >= 0 {
				taken := slices.Clone(e.nodes)
				fix = &message{Type: msgProxy, Key: []byte(k), Primary: e.primary, Nodes: taken}
				dest = exclude(exclude(m.members, []channel.Member{*e.primary}), taken)
				// The backup nodes it names that got the publish's MSG_PROXY (a map member
				// other than the local node and the publish's backup): coming after that
				// member's MSG_BACKUP, it dropped the value there
				// (TestGetNamingAThirdMemberDuringTheDeparturePassOverTCP). The new primary
				// is asked to send them its value again (resendAsked).
				// The publish's MSG_PROXY reached the new primary too when it is not the
				// publish's backup (a third member's Put): a Go node that kept the value
				// it dropped then is the primary again on the request (kept.go;
				// TestPutOnAThirdNodeDuringTheDeparturePass).
				demoted := exclude(exclude(taken, []channel.Member{m.cfg.Channel.LocalMember()}), nodes)
				reached := indexOf(nodes, *e.primary) < 0
				if err == nil && len(nodes) > 0 && (len(demoted) > 0 || reached) {
					if len(demoted) == 0 {
						demoted = taken
					}
					ask = &message{Type: msgRetrieveBackup, Key: []byte(k), Primary: e.primary, Nodes: demoted}
				}
			}
			if notify && e.primary != nil && !same(e.primary, m.cfg.Channel.LocalMember()) && indexOf(m.members, *e.primary) >= 0 {
				// A replicated map: the pass's MSG_NOTIFY_MAPMEMBER, naming this node, may
				// have reached the members after that member's, that member included,
				// whose entry it made a copy. They are told again that member is the
				// primary, and it takes its entry back (update)
				// (TestReplicatedGetDuringTheDeparturePassLeavesOnePrimary).
				fix = &message{Type: msgNotifyMember, Key: []byte(k), Primary: e.primary, Nodes: slices.Clone(e.nodes)}
				dest = slices.Clone(m.members)
			}
			m.mu.Unlock()
			if len(dest) > 0 {
				if err := m.send(ctx, dest, fix); err != nil {
					m.log.Warn("replmap: correct the primary of an entry taken over while republished", "map", m.cfg.Name, "err", err)
				}
			}
			if ask != nil {
				if err := m.send(ctx, []channel.Member{*ask.Primary}, ask); err != nil {
					m.log.Warn("replmap: ask the primary of an entry taken over while republished to send it again", "map", m.cfg.Name, "err", err)
				}
			}
			if orphan {
				return nil, errNotOrphan
			}
			return nil, nil
		}
		left, gone, overtaken := false, false, false
		if e != nil {
			e.nodes, e.primary, e.role = nodes, m.local(), rolePrimary
			if dirty {
				e.failed++ // the next Replicate sends the value in full (dirtyDiffable)
			}
			m.account(k, e)
			left = m.departed(nodes)
			overtaken = !notify && err == nil && len(nodes) > 0 && (e != read || e.sends != sends)
		} else {
			gone = !notify && m.state != stateDestroyed
		}
		m.mu.Unlock()
		if gone {
			m.retract(ctx, k)
		}
		if !left && !overtaken {
			return nodes, err
		}
		if !left && i == maxRepublish-1 {
			m.mu.Lock()
			if e = m.entries[k]; e != nil {
				e.failed++ // the next Replicate sends the value in full
			}
			m.mu.Unlock()
			return nodes, err
		}
	}
	return nodes, fmt.Errorf("%w: the backup nodes picked left, %d times", ErrNoBackup, maxRepublish)
}

// takenOverLocked reports whether e, an entry a received message changed, is another
// member's now: it holds no value (a MSG_PROXY), or names as its primary a map member
// other than the local node. An entry naming a member that left (a message it sent
// before) is not. m.mu held.
func (m *Map) takenOverLocked(e *entry) bool {
	if e.role == rolePrimary {
		return false
	}
	if e.role == roleProxy || e.value == nil {
		return true
	}
	return e.primary != nil && !same(e.primary, m.cfg.Channel.LocalMember()) && indexOf(m.members, *e.primary) >= 0
}

// firstRemaining reports whether local is the first of nodes that is local or a map
// member, m.mu held.
func (m *Map) firstRemaining(nodes []channel.Member, local channel.Member) bool {
	i := slices.IndexFunc(nodes, func(n channel.Member) bool { return n.Key() == local.Key() || indexOf(m.members, n) >= 0 })
	return i >= 0 && nodes[i].Key() == local.Key()
}

// anyMember reports whether one of nodes is a map member, m.mu held.
func (m *Map) anyMember(nodes []channel.Member) bool {
	return slices.ContainsFunc(nodes, func(n channel.Member) bool { return indexOf(m.members, n) >= 0 })
}

// retract sends MSG_REMOVE of k to the map members, for an entry removed while this
// node published it (a lazy map's publish: its value to a backup, proxies to the
// others): the removal's MSG_REMOVE may have reached them before the publish did, and
// would leave them a copy or a proxy of a removed entry, which a Get there takes over
// (session/backup TestLogoutDuringRelocation). Failures are logged.
func (m *Map) retract(ctx context.Context, k string) {
	if members := m.Members(); len(members) > 0 {
		if err := m.send(ctx, members, &message{Type: msgRemove, Key: []byte(k)}); err != nil {
			m.log.Warn("replmap: remove an entry removed while published", "map", m.cfg.Name, "err", err)
		}
	}
}

// departed reports whether one of nodes is no longer a map member, m.mu held.
func (m *Map) departed(nodes []channel.Member) bool {
	return slices.ContainsFunc(nodes, func(n channel.Member) bool { return indexOf(m.members, n) < 0 })
}

// awaitRepublishLocked waits, m.mu held (released while it waits), until no republish
// of the key under k is under way (republishKey), or ctx ends: then it returns an error
// wrapping ctx's.
func (m *Map) awaitRepublishLocked(ctx context.Context, k string) error {
	for {
		done := m.republishing[k]
		if done == nil {
			return nil
		}
		m.republishWaiters++
		m.mu.Unlock()
		var err error
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("replmap: republish: waiting for another republish of the key: %w", ctx.Err())
		}
		m.mu.Lock()
		m.republishWaiters--
		if err != nil {
			return err
		}
	}
}
