package replmap

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"

	"github.com/gotribes/tribes/channel"
)

// A stamp names one write of a key's value: a Put on its primary, or a Replicate that
// sends a change, draws a new one; a takeover, a Get's publish and a departure pass
// publish the value with the stamp it has. Go nodes carry it between them in the
// MapMessage's diffvalue of a message that is not a diff (MSG_BACKUP, MSG_COPY,
// MSG_PROXY): Java writes diffvalue null there and reads it only when diff is true
// (AbstractReplicatedMap.messageReceived), so a Java map decodes the message as before
// and ignores the stamp, and what a Java map sends carries none (stamp 0: unknown).
//
// Beside the stamp goes the write's clock, a Lamport clock: each map keeps the largest
// clock it made or heard of, of any key (Map.clock, which a Remove does not forget; a
// message refused over the limits is heard of all the same:
// TestJoinersPutAfterRefusedWritesCrossedByTheOldPrimarysReplicateKeepsThePut), and a
// Put's clock is one more. A Replicate's (in full or a diff) is the entry's: only the
// backup nodes hear of it, and a larger clock would order it after the writes of nodes
// that never heard of it: a Put whose MSG_REMOVE the old primary's Replicate crossed at
// the backup (TestPutsBackupCrossedByTheOldPrimarysReplicateKeepsThePut), a Put after
// which a departure pass of the replicated value comes late
// (TestDeparturePassOfAReplicatedValueReachingThePutsBackupLateIgnored). The clocks
// order two writes (clockBefore: the smaller clock first; equal clocks, concurrent
// writes or one primary's, are not ordered and apply as they come, as before), so that
// a publish of a value older than the one a Go node's entry names is known as such and
// not applied (olderLocked), unless it comes from a backup node the entry names: that
// node's takeover (a Get there) publishes the value it holds, which may lag a write of
// the primary's whose send failed or is under way, and takes the entry over as before
// (as Java's does). Clock 0 is unknown: a Java map's message, a Go node's of the
// previous version (its diffvalue holds the stamp alone), a value a proxy's Get or a
// restarted map's fetch took from another node's reply, a state transfer's entry (a Go
// donor's first entry carries its map's clock, unordered, which the joiner hears of:
// TestJoinersPutCrossedByTheOldPrimarysReplicateKeepsThePut); a message of unknown clock is applied as before and makes the
// entry's clock unknown, and a Replicate of an entry whose clock is unknown sends its
// value with clock 0 too. A Put's clock is always known, and orders its publish when
// its MSG_REMOVE dropped the other nodes' entries first; a Put on a node that held no
// entry of the key sends none (as Java's), and other nodes may hold entries of writes it
// never heard of, whose clocks are larger (their publish refused over the node's
// limits, for one): its publish is unordered (message.Unordered, a byte more on the
// wire), applied whatever their clocks, their maps' clocks raised to its and the
// entry's unknown (TestPutOfANodeHoldingNoEntryAppliedOverEntriesItNeverHeardOf). A
// diff carries neither stamp nor clock: its receiver keeps the entry's clock and
// forgets the stamp.
//
// The stamp's first use (kept.go, superseded): a node keeping the value of its own Put,
// which a departure pass's MSG_PROXY demoted, learns from that MSG_PROXY the stamp of
// the pass's value, older than the Put's; a MSG_BACKUP or MSG_PROXY of another primary
// with that same stamp republishes the pass's older value (the pass's backup taking it
// over when the pass's node died, or a Get there), not a newer write, which has a stamp
// of its own (TestKeptValueRestoredWhenThePassBackupSeesThePassNodeGoneFirst). With
// clocks known that pass's MSG_PROXY, and its MSG_BACKUP reaching the Put's backup, are
// older than the Put and are not applied at all
// (TestDeparturePassBackupReachingThePutsBackupLateIgnored).

// stampMagic starts a stamp's diffvalue; 8 bytes of the stamp, big-endian, follow, and
// 8 bytes of the clock when it is known.
const stampMagic = "\x00grs"

// stampLen is the length of a stamp's diffvalue without the clock (the previous
// version's, and this one's for clock 0); clockLen with it; unorderedLen with it and
// the byte unorderedMark after it, for a write whose clock orders nothing (a Put that
// sent no MSG_REMOVE: message.Unordered).
const (
	stampLen     = len(stampMagic) + 8
	clockLen     = stampLen + 8
	unorderedLen = clockLen + 1
)

// unorderedMark ends the diffvalue of an unordered write's stamp and clock.
const unorderedMark = 1

// newStamp returns a stamp for a new write: random, never 0.
func newStamp() uint64 {
	for {
		if s := rand.Uint64(); s != 0 {
			return s
		}
	}
}

// stamped reports whether a message of type t carries a stamp: a MSG_BACKUP or MSG_COPY
// in full, or a MSG_PROXY.
func stamped(t msgType, diff bool) bool {
	return !diff && (t == msgBackup || t == msgCopy || t == msgProxy)
}

// stampBytes returns the diffvalue of m: its DiffValue, or, for a message carrying a
// stamp or a clock and no DiffValue, their bytes (the stamp's alone for clock 0, as the
// previous version wrote them).
func stampBytes(m *message) []byte {
	if m.DiffValue != nil || m.Stamp == 0 && m.Clock == 0 || !stamped(m.Type, m.Diff) {
		return m.DiffValue
	}
	b := make([]byte, 0, unorderedLen)
	b = append(b, stampMagic...)
	b = binary.BigEndian.AppendUint64(b, m.Stamp)
	if m.Clock != 0 {
		b = binary.BigEndian.AppendUint64(b, m.Clock)
		if m.Unordered {
			b = append(b, unorderedMark)
		}
	}
	return b
}

// stampOf returns the stamp and the clock a decoded message carries in its diffvalue,
// 0 for none (a Java map's message, a diff, another type, other bytes; the clock of a
// previous version's stamp), and whether its write is unordered (message.Unordered).
// The clock's forms with clock 0 are none: stampBytes never writes them.
func stampOf(m *message) (stamp, clock uint64, unordered bool) {
	if !stamped(m.Type, m.Diff) || !bytes.HasPrefix(m.DiffValue, []byte(stampMagic)) {
		return 0, 0, false
	}
	switch len(m.DiffValue) {
	case stampLen:
		return binary.BigEndian.Uint64(m.DiffValue[len(stampMagic):]), 0, false
	case clockLen, unorderedLen:
		unordered = len(m.DiffValue) == unorderedLen
		if unordered && m.DiffValue[clockLen] != unorderedMark {
			return 0, 0, false
		}
		if clock := binary.BigEndian.Uint64(m.DiffValue[stampLen:clockLen]); clock != 0 {
			return binary.BigEndian.Uint64(m.DiffValue[len(stampMagic):]), clock, unordered
		}
	}
	return 0, 0, false
}

// clockBefore reports whether the write of clock a came before that of clock b: a
// smaller clock. A clock 0 (unknown) orders nothing, and neither do equal clocks:
// concurrent writes, neither of whose nodes heard of the other, or the same write.
func clockBefore(a, b uint64) bool {
	return a != 0 && b != 0 && a < b
}

// tickLocked returns the clock of a new write: one more than any the map made or heard
// of (Map.clock), which it records; it stays at the largest uint64 once there. m.mu
// held.
func (m *Map) tickLocked() uint64 {
	if m.clock < math.MaxUint64 {
		m.clock++
	}
	return m.clock
}

// olderLocked reports whether mm, a received message of e from from, publishes a value
// whose write came before that of the value e names (clockBefore), from a member e does
// not name as a backup node (whose takeover is applied as before: stamp.go): it is not
// applied, and Stats.OlderIgnored counts it. Its sender is not told: the newer write's
// messages reach it as well. m.mu held.
func (m *Map) olderLocked(e *entry, mm *message, from channel.Member) bool {
	if e == nil || !stamped(mm.Type, mm.Diff) || mm.Unordered || !clockBefore(mm.Clock, e.clock) || indexOf(e.nodes, from) >= 0 {
		return false
	}
	m.olderIgnored++
	return true
}
