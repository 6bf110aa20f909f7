package replmap

import (
	"slices"

	"github.com/gotribes/tribes/channel"
)

// keyReplicates is what the map tracks of a key's Replicates (replicatedSinceLocked) and
// Removes for Put: running counts the Replicates under way, reads those that read an
// entry of the key to send it since the key was listed, removing the Removes under way,
// removes those that returned since the key was listed, watchers the Puts looking at
// them, and removers the nodes whose MSG_REMOVE of the key was received while the Put
// watched, and no MSG_BACKUP or MSG_PROXY of the key from them after it (a node's Put
// replacing the key sends MSG_REMOVE, then those: it is no Remove); republishes counts
// the republishes of the key begun since it was listed (republishKey), for the Puts and
// the republishWatchers, a backup's Gets taking the entry over.
type keyReplicates struct {
	running, removing, watchers, republishWatchers int
	reads, removes, republishes                    uint64
	removers                                       []channel.MemberKey
	// removed, made by a Put that waits for the Removes under way, is closed when the
	// last of them returns.
	removed chan struct{}
	// published counts a member's MSG_BACKUP, MSG_COPY (a value in full) and MSG_PROXY
	// of the key that the node received (applied, or refused by its limits) while a
	// Remove of the key was under way
	// (publishedDuringRemoveLocked).
	published uint64
}

// publishedDuringRemoveLocked counts a member's publish of the key under k (its
// MSG_BACKUP, MSG_COPY or MSG_PROXY, applied or refused) for the Removes of the key under way (none:
// nothing to count): that member's Put (or Get, Replicate) may have stored its entry
// before the Remove's MSG_REMOVE reached it, and the Remove then sends MSG_REMOVE again
// (Remove). m.mu held.
func (m *Map) publishedDuringRemoveLocked(k string) {
	if kr := m.keyReplicates[k]; kr != nil && kr.removing > 0 {
		kr.published++
	}
}

// removedByLocked notes from's MSG_REMOVE of the key under k for the Put of the key
// that watches (none: nothing to note): the removal may have reached its backup after its
// MSG_BACKUP, and it comes after the Put (Put), unless from's MSG_BACKUP or MSG_PROXY of
// the key follows (publishedByLocked). m.mu held.
func (m *Map) removedByLocked(k string, from channel.Member) {
	if kr := m.keyReplicates[k]; kr != nil && kr.watchers > 0 && !slices.Contains(kr.removers, from.Key()) {
		kr.removers = append(kr.removers, from.Key())
	}
}

// publishedByLocked notes from's MSG_BACKUP or MSG_PROXY of the key under k (a value in
// full): the MSG_REMOVE from sent before was its Put's, replacing the key, not a Remove.
// m.mu held.
func (m *Map) publishedByLocked(k string, from channel.Member) {
	if kr := m.keyReplicates[k]; kr != nil && len(kr.removers) > 0 {
		kr.removers = slices.DeleteFunc(kr.removers, func(r channel.MemberKey) bool { return r == from.Key() })
	}
}

// keyReplicatesLocked returns the key's keyReplicates, listing it, m.mu held.
func (m *Map) keyReplicatesLocked(k string) *keyReplicates {
	kr := m.keyReplicates[k]
	if kr == nil {
		if m.keyReplicates == nil {
			m.keyReplicates = make(map[string]*keyReplicates)
		}
		if n := len(m.spareKeyReplicates); n > 0 {
			kr = m.spareKeyReplicates[n-1]
			m.spareKeyReplicates[n-1] = nil
			m.spareKeyReplicates = m.spareKeyReplicates[:n-1]
		} else {
			kr = &keyReplicates{}
		}
		m.keyReplicates[k] = kr
	}
	return kr
}

// releaseKeyReplicatesLocked unlists kr, the key's keyReplicates, once no Replicate or
// Remove of the key runs and no Put or Get watches them, and keeps it for reuse (none of them
// holds it then), m.mu held.
func (m *Map) releaseKeyReplicatesLocked(k string, kr *keyReplicates) {
	if kr.running == 0 && kr.removing == 0 && kr.watchers == 0 && kr.republishWatchers == 0 && m.keyReplicates[k] == kr {
		delete(m.keyReplicates, k)
		if len(m.spareKeyReplicates) < maxSpareKeyLocks {
			*kr = keyReplicates{removers: kr.removers[:0]}
			m.spareKeyReplicates = append(m.spareKeyReplicates, kr)
		}
	}
}

// replicatedSinceLocked ends a Put's watch of kr, the keyReplicates of k it listed, and reports
// whether a Replicate of the key was under way when the Put read running and reads, is
// under way, or read an entry of the key since: of the entry the Put replaces, or of one
// a Remove dropped before. Its diff may reach the backup nodes after
// the Put's value in full, which then gets a change it holds already, or before it (a
// change made after the Put's marshal, lost): the next Replicate sends the value in full
// (TestPutDuringReplicateOfTheSameDiffableSentInFullNext,
// TestPutAfterRemoveDuringReplicateOfTheSameDiffableSentInFullNext). m.mu held.
func (m *Map) replicatedSinceLocked(k string, kr *keyReplicates, running int, reads uint64) bool {
	kr.watchers--
	m.releaseKeyReplicatesLocked(k, kr)
	return running > 0 || kr.running > 0 || kr.reads != reads
}
