package replmap

import (
	"context"
	"fmt"
)

// Remove deletes key everywhere (MSG_REMOVE to every map member) and returns its value
// (nil if none). It sends MSG_REMOVE also when the local node holds no entry for key (it
// missed the key's MSG_PROXY, or refused it at MaxEntries), where Java's remove sends
// nothing. A Replicate of the entry that checks it after the Remove dropped it sends
// nothing (TestReplicateOfARemovedEntrySendsNothing). A Remove takes no key lock: it does
// not wait for a Put of the key on the node (nor for a Get taking the entry over): a Put
// under way when it began stores nothing and removes the key again, and the Remove
// returns the value it found, nil when the Put had not stored its entry yet
// (TestRemoveDuringAPutLeavesNoUnbackedEntry); a Put made while it is under way waits
// for it (see Put). A member's MSG_BACKUP, MSG_COPY (a value in full) or MSG_PROXY of
// the key that the node receives while the Remove sends its MSG_REMOVE (another node's
// Put, a Get taking the entry over, a Replicate in full of an entry the node backs up),
// applied or refused by the node's limits
// (TestRefusedPutDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing), has the Remove
// drop what the node got and send MSG_REMOVE again, up to 4 times: its
// MSG_REMOVE may have reached that member after it stored its entry, where its backup
// and proxies were left naming a primary that held nothing. The removal comes after that
// Put, and no node holds the key after both
// (TestPutDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing,
// TestGetTakeoverDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing). A Replicate reaches
// only the backup nodes: on a node that holds a proxy of the key, the Remove does not
// see it; a Replicate in full that reaches the backup after the MSG_REMOVE, sent before
// the primary got it, is undone by the primary: a lazy map's primary that another
// member's MSG_REMOVE drops sends its backup nodes a MSG_REMOVE naming itself, which
// drops a backup or proxy of its entry only, from a goroutine of its own, after that
// Remove returned (TestReplicateDuringARemoveOnAnotherNodeLeavesTheNodesAgreeing,
// TestForwardedRemoveDropsOnlyTheSendersBackup). The Remove
// sees the publishes received before its send returns: with synchronized-ack
// SendOptions, the members applied its MSG_REMOVE by then. When a publish came during
// the last of those sends too (the first MSG_REMOVE and 4 again), a member may still
// hold the key: Remove returns the value it found and an error wrapping
// ErrRemoveIncomplete (TestRemoveOvertakenEveryTimeReturnsErrRemoveIncomplete).
func (m *Map) Remove(ctx context.Context, key any) (old any, err error) {
	k, err := keyOf(key)
	if err != nil {
		return nil, err
	}
	if err := m.started(); err != nil {
		return nil, err
	}
	// Listed for a Put of the key on the node that this Remove overlaps.
	m.mu.Lock()
	kr := m.keyReplicatesLocked(k)
	kr.removing++
	published := kr.published
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		kr.removing--
		kr.removes++
		if kr.removing == 0 && kr.removed != nil {
			close(kr.removed) // the Puts waiting for the Removes
			kr.removed = nil
		}
		m.releaseKeyReplicatesLocked(k, kr)
		m.mu.Unlock()
	}()
	old, _, err = m.remove(ctx, k, key, true)
	// A member published the key (its Put, a Get taking the entry over, a Replicate in
	// full) while the MSG_REMOVE was sent: the MSG_REMOVE may have reached it after it
	// stored its entry, its backup and proxies (this node among them) holding the key
	// for a primary that holds nothing. The removal comes after that publish: the node
	// drops what it got and sends MSG_REMOVE again, up to maxRepublish times; a publish
	// during the last of those sends too ends it with ErrRemoveIncomplete.
	for i := 0; err == nil; i++ {
		m.mu.Lock()
		again := kr.published != published
		published = kr.published
		if again && i < maxRepublish {
			m.drop(k)
		}
		members := m.members
		m.mu.Unlock()
		if !again || len(members) == 0 {
			break
		}
		if i == maxRepublish {
			err = fmt.Errorf("%w: %v, its MSG_REMOVE sent %d times", ErrRemoveIncomplete, key, 1+maxRepublish)
			break
		}
		if err = m.send(ctx, members, &message{Type: msgRemove, Key: []byte(k)}); err != nil {
			err = fmt.Errorf("replmap: remove %v again, published meanwhile: %w", key, err)
		}
	}
	return old, err
}

// remove drops the entry under k and sends MSG_REMOVE to the map members: always with
// always set (Remove), otherwise only when there was an entry (Put). sent reports
// whether it sent one and every member took it.
func (m *Map) remove(ctx context.Context, k string, key any, always bool) (_ any, sent bool, _ error) {
	m.mu.Lock()
	e := m.entries[k]
	m.drop(k)
	members := m.members
	m.mu.Unlock()
	var old any
	if e != nil {
		old = e.value
	} else if !always {
		return nil, false, nil
	}
	if len(members) > 0 {
		if err := m.send(ctx, members, &message{Type: msgRemove, Key: []byte(k)}); err != nil {
			return old, false, fmt.Errorf("replmap: remove %v: %w", key, err)
		}
	}
	return old, len(members) > 0, nil
}
