package delta

import (
	"errors"
	"fmt"
	"math"

	"github.com/gotribes/tribes/jserial"
)

// ErrMessageLimit is wrapped by the error of a send whose session message BinaryCodec
// or JavaCodec refuses to encode because another node's codec, configured alike, would
// refuse to decode it: for BinaryCodec a string (an id, an attribute or note name, a
// principal's name) longer than MaxStringLen, a value larger than MaxValueSize, more
// actions than MaxEntries, a principal action whose name or a role is longer than
// MaxStringLen or with more roles than MaxEntries
// (TestBinaryCodecRefusesPrincipalPastLimitsOnSend); for JavaCodec more actions than
// MaxEntries, a stream longer than Limits.MaxBytes, or a value whose stream goes beyond
// Limits (TestJavaCodecValuePastLimitsNotSent) or a delta's values that do together
// (TestJavaCodecValuesTogetherPastLimitsNotSent). A node refuses such a message
// whole; with group commit, every other change of its batch with it. Session.Set refuses such a value or name at once (a *ValueError), and Session.SetPrincipal such a principal
// (TestSetPrincipalRefusesWhatThePeersWouldRefuse).
//
// A node whose codec has lower limits than the sender's refuses what goes past them
// with an error wrapping ErrMalformed and ErrMessageLimit, and answers FAIL_ACK: the
// sender's acked send fails with channel.ErrAckFailed naming that node, its changes
// pending (TestLowerLimitsOnAReceiverFailTheAckedSend); the other messages of its batch
// are sent to that node again without it (batch_refused.go).
var ErrMessageLimit = errors.New("delta: session message exceeds the codec's limits")

// maxLeftBytes bounds the bytes of the ids a session keeps of those binder's renames
// took it away from (sessionExt.left, at most maxLeft ids), whoever sent them: a
// member's rename (EventChangeSessionID) or a chunk's session (AskLeft, AskRecentLeft),
// whose ids may each be as long as MaxStringLen. Past it the oldest go, as past maxLeft
// (from the newest down, each that fits beside the newer ones is kept: mergeLeft), and
// an id longer alone is not kept; the decoder of a chunk drops them before it allocates
// them. So a peer makes a node hold at most 2 KiB of them per session (eight ids of 256
// bytes; a session id of this package is 32 hex digits, a dot and the route) where it
// made it hold 8 × MaxStringLen (128 KiB by default): TestLeftIDsBytesBounded. It bounds
// what a session keeps, not a message: eight ids fit with routes up to 223 bytes, fewer
// with longer ones (TestMergeLeftKeepsTheIDRenamedFromPastTheBytes).
const maxLeftBytes = 2 << 10

// checkLimits refuses m if its header strings or actions exceed what decodeInto accepts.
// The sessions of a state transfer chunk are not checked: a joiner leaves out a session
// with a string, a value or a principal's Java form past its limits, and applies the
// rest of the chunk, counting it in Stats.TransferSessionsRefused
// (TestTransferRefusesOnlyTheSessionPastLimits); of a chunk with more sessions than its
// MaxEntries it applies the first MaxEntries and leaves out the others, counted likewise
// (TestChunkPastMaxEntriesKeepsTheFirst); a chunk with a session of more attributes
// than its MaxEntries it refuses whole, reports lost and asks another member at once.
func (c BinaryCodec) checkLimits(m *Message) error {
	maxS := c.maxString()
	for _, s := range [...]string{m.Context, m.SessionID, m.UniqueID, m.NewID} {
		if len(s) > maxS {
			return fmt.Errorf("%w: a string of %d bytes in a message about session %.64q (MaxStringLen %d)",
				ErrMessageLimit, len(s), m.SessionID, maxS)
		}
	}
	if n := c.maxEntries(); len(m.Actions) > n {
		return fmt.Errorf("%w: %d actions (MaxEntries %d)", ErrMessageLimit, len(m.Actions), n)
	}
	maxV := c.maxValue()
	for i := range m.Actions {
		a := &m.Actions[i]
		switch {
		case len(a.Name) > maxS:
			return fmt.Errorf("%w: the name %.64q... of %d bytes (MaxStringLen %d)", ErrMessageLimit, a.Name, len(a.Name), maxS)
		case a.Op == OpSet && len(a.Value) > maxV:
			return fmt.Errorf("%w: the value of %q, %d bytes (MaxValueSize %d)", ErrMessageLimit, a.Name, len(a.Value), maxV)
		case a.Type == ActionPrincipal && a.Op == OpSet:
			if err := c.checkPrincipal(a.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPrincipal refuses a principal action's value (EncodePrincipal's) whose name or a
// role is longer than MaxStringLen, or which has more roles than MaxEntries: a node
// whose codec is configured alike drops such an action (decodePrincipal, counted in
// Stats.BadActions). A value that does not parse is left to the receiver.
func (c BinaryCodec) checkPrincipal(v []byte) error {
	maxS, maxE := c.maxString(), c.maxEntries()
	r := reader{b: v, maxString: math.MaxInt}
	name := r.str()
	if len(name) > maxS {
		return fmt.Errorf("%w: a principal's name %.64q... of %d bytes (MaxStringLen %d)", ErrMessageLimit, name, len(name), maxS)
	}
	n := r.count(1, 0, math.MaxInt)
	if n > maxE {
		return fmt.Errorf("%w: the principal %.64q with %d roles (MaxEntries %d)", ErrMessageLimit, name, n, maxE)
	}
	for i := 0; i < n && r.err == nil; i++ {
		if role := r.str(); len(role) > maxS {
			return fmt.Errorf("%w: a role %.64q... of the principal %.64q, %d bytes (MaxStringLen %d)",
				ErrMessageLimit, role, name, len(role), maxS)
		}
	}
	return nil
}

// checkLimits refuses m if JavaCodec's decoder would refuse it for its action count
// (MaxEntries) or a value larger than the stream it would travel in may be
// (Limits.MaxBytes); the encoder reads each value's stream, a principal's included, with
// Limits (inline, javaAction), refusing one beyond them with ErrMessageLimit as
// checkPrincipal does, without reading it twice, and a delta of two values or more whole
// (encodeDeltaRequest). A state transfer chunk is not checked here: its encoder leaves
// out a session with a value beyond Limits (encodeSessions).
func (c JavaCodec) checkLimits(m *Message) error {
	if m.Event != EventDelta {
		return nil
	}
	if n := orDefault(c.MaxEntries, DefaultMaxEntries); len(m.Actions) > n {
		return fmt.Errorf("%w: %d actions (MaxEntries %d)", ErrMessageLimit, len(m.Actions), n)
	}
	maxB := c.maxBytes()
	for i := range m.Actions {
		if a := &m.Actions[i]; int64(len(a.Value)) > maxB {
			return fmt.Errorf("%w: the value of %.64q, %d bytes (Limits.MaxBytes %d)", ErrMessageLimit, a.Name, len(a.Value), maxB)
		}
	}
	return nil
}

// checkPrincipal of JavaCodec refuses a principal action's value longer than
// Limits.MaxBytes (as checkLimits does), or whose Java stream its encoder would not read
// within Limits (javaAction).
func (c JavaCodec) checkPrincipal(v []byte) error {
	if maxB := c.maxBytes(); int64(len(v)) > maxB {
		return fmt.Errorf("%w: the principal's value, %d bytes (Limits.MaxBytes %d)", ErrMessageLimit, len(v), maxB)
	}
	if _, err := c.DecodePrincipal(v); err != nil {
		return fmt.Errorf("%w: the principal, read with JavaCodec's Limits %+v: %w", ErrMessageLimit, c.Limits, err)
	}
	return nil
}

// checkSize refuses an encoded message of size bytes that JavaCodec's decoder would
// refuse as longer than Limits.MaxBytes (the stream, and its mSession payload, which is
// shorter). A state transfer chunk is not checked.
func (c JavaCodec) checkSize(m *Message, size int) error {
	if maxB := c.maxBytes(); m.Event != EventAllSessionData && int64(size) > maxB {
		return fmt.Errorf("%w: a %s message of %d bytes about session %.64q (Limits.MaxBytes %d)",
			ErrMessageLimit, m.Event, size, m.SessionID, maxB)
	}
	return nil
}

// maxBytes is the longest stream JavaCodec's decoder reads.
func (c JavaCodec) maxBytes() int64 {
	if c.Limits.MaxBytes > 0 {
		return c.Limits.MaxBytes
	}
	return jserial.DefaultMaxBytes
}

// valueLimits is implemented by message codecs that bound attribute names and values
// (BinaryCodec, JavaCodec), so that Session.Set refuses what the other nodes would not read.
type valueLimits interface {
	limits() (maxString, maxValue int)
}

func (c BinaryCodec) limits() (maxString, maxValue int) { return c.maxString(), c.maxValue() }

// limits of JavaCodec: a name travels in a delta as writeUTF's string (at most 65535
// bytes; WriteUTF refuses the longer modified UTF-8 forms), a value in a stream of at
// most Limits.MaxBytes.
func (c JavaCodec) limits() (maxString, maxValue int) {
	return math.MaxUint16, int(min(c.maxBytes(), math.MaxInt))
}

// principalChecker is implemented by message codecs that bound a principal action
// (BinaryCodec its name and roles, JavaCodec its value and Java stream), so that
// Session.SetPrincipal refuses what they would not send.
type principalChecker interface {
	checkPrincipal(v []byte) error
}

// checkPrincipalLimits returns an error wrapping ErrMessageLimit if the cluster's codec
// would refuse to send a principal action of value v (EncodePrincipal's).
func (m *Manager) checkPrincipalLimits(v []byte) error {
	if c, ok := m.cl.codec.(principalChecker); ok {
		return c.checkPrincipal(v)
	}
	return nil
}

// checkValueLimits returns a *ValueError if the cluster's codec would refuse an attribute
// name or an encoded value of this size.
func (m *Manager) checkValueLimits(name string, v any, data []byte) error {
	l, ok := m.cl.codec.(valueLimits)
	if !ok {
		return nil
	}
	maxS, maxV := l.limits()
	var err error
	switch {
	case len(name) > maxS:
		err = fmt.Errorf("%w: %w: the name has %d bytes (the codec's MaxStringLen is %d)", ErrValueNotReplicable,
			ErrMessageLimit, len(name), maxS)
	case len(data) > maxV:
		err = fmt.Errorf("%w: %w: it encodes to %d bytes (the codec's MaxValueSize is %d)", ErrValueNotReplicable,
			ErrMessageLimit, len(data), maxV)
	default:
		return nil
	}
	if len(name) > 64 {
		name = name[:64] + "..."
	}
	return &ValueError{Name: name, Type: fmt.Sprintf("%T", v), Err: err}
}

// refusedSet collects the messages of a batch the codec refused to encode (sendBatch),
// or a member refused (isolateRefused): their senders get that error instead of the
// batch's outcome. Nil until one is refused.
type refusedSet map[*Message]error

// errFor returns msg's refusal, or err, the outcome of the send that carried the others.
func (r refusedSet) errFor(msg *Message, err error) error {
	if e := r[msg]; e != nil {
		return e
	}
	return err
}
