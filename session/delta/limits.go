package delta

import (
	"errors"
	"fmt"
)

// ErrMessageLimit is wrapped by the error of a send whose session message BinaryCodec
// refuses to encode because another node's codec, configured alike, would refuse to
// decode it: a string (an id, an attribute or note name, a principal's name) longer
// than MaxStringLen, a value larger than MaxValueSize, more actions than MaxEntries. A
// node refuses such a message whole, and acknowledges it all the same (malformed input
// is ignored), so the change would be lost on every member while the sender was told it
// arrived; with group commit, so would every other change of its batch. Session.Set
// refuses such a value or name at once (a *ValueError).
var ErrMessageLimit = errors.New("delta: session message exceeds the codec's limits")

// checkLimits refuses m if its header strings or actions exceed what decodeInto accepts.
// The sessions of a state transfer chunk are not checked: a joiner that refuses a chunk
// reports it lost and asks another member at once.
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
		}
	}
	return nil
}

// valueLimits is implemented by message codecs that bound attribute names and values
// (BinaryCodec), so that Session.Set refuses what the other nodes would not read.
type valueLimits interface {
	limits() (maxString, maxValue int)
}

func (c BinaryCodec) limits() (maxString, maxValue int) { return c.maxString(), c.maxValue() }

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

// refusedSet collects the messages of a batch the codec refused to encode (sendBatch):
// their senders get that error instead of the batch's outcome. Nil until one is refused.
type refusedSet map[*Message]error

// errFor returns msg's refusal, or err, the outcome of the send that carried the others.
func (r refusedSet) errFor(msg *Message, err error) error {
	if e := r[msg]; e != nil {
		return e
	}
	return err
}
