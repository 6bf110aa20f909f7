package replmap

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
)

// A stamp names one write of a key's value: a Put on its primary, or a Replicate that
// sends a change, draws a new one; a takeover, a Get's publish and a departure pass
// publish the value with the stamp it has. Go nodes carry it between them in the
// MapMessage's diffvalue of a message that is not a diff (MSG_BACKUP, MSG_COPY,
// MSG_PROXY): Java writes diffvalue null there and reads it only when diff is true
// (AbstractReplicatedMap.messageReceived), so a Java map decodes the message as before
// and ignores the stamp, and what a Java map sends carries none (stamp 0: unknown).
//
// Its one use (kept.go, superseded): a node keeping the value of its own Put, which a
// departure pass's MSG_PROXY demoted, learns from that MSG_PROXY the stamp of the pass's
// value, older than the Put's; a MSG_BACKUP or MSG_PROXY of another primary with that
// same stamp republishes the pass's older value (the pass's backup taking it over when
// the pass's node died, or a Get there), not a newer write, which has a stamp of its own
// (TestKeptValueRestoredWhenThePassBackupSeesThePassNodeGoneFirst).

// stampMagic starts a stamp's diffvalue; 8 bytes of the stamp, big-endian, follow.
const stampMagic = "\x00grs"

// stampLen is the length of a stamp's diffvalue.
const stampLen = len(stampMagic) + 8

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
// stamp and no DiffValue, the stamp's bytes.
func stampBytes(m *message) []byte {
	if m.DiffValue != nil || m.Stamp == 0 || !stamped(m.Type, m.Diff) {
		return m.DiffValue
	}
	b := make([]byte, 0, stampLen)
	b = append(b, stampMagic...)
	return binary.BigEndian.AppendUint64(b, m.Stamp)
}

// stampOf returns the stamp a decoded message carries in its diffvalue, 0 for none (a
// Java map's message, a diff, another type, other bytes).
func stampOf(m *message) uint64 {
	if !stamped(m.Type, m.Diff) || len(m.DiffValue) != stampLen || !bytes.HasPrefix(m.DiffValue, []byte(stampMagic)) {
		return 0
	}
	return binary.BigEndian.Uint64(m.DiffValue[len(stampMagic):])
}
