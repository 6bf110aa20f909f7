package redisstore

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gotribes/tribes/session/delta"
)

// The stored value of a session is an 8-byte big-endian version followed by a
// delta.BinaryCodec message: EventAllSessionData (a state transfer chunk) with the
// store's Name as context and the session as its only entry. The version comes first so
// that the save script compares it without decoding; the session inside carries the
// same version. Attribute values are the ValueCodec's bytes, as in a replication.
const versionLen = 8

// codec returns the BinaryCodec with the store's limits.
func (st *Store) codec() delta.BinaryCodec {
	return delta.BinaryCodec{
		MaxMessageSize: st.cfg.MaxSessionSize,
		MaxValueSize:   st.cfg.MaxValueSize,
		MaxEntries:     st.cfg.MaxAttributes,
		MaxStringLen:   maxNameLen,
	}
}

// maxNameLen bounds ids, attribute names and the other strings of a stored session.
const maxNameLen = 4 << 10

// encode returns the stored form of state. Its message's UniqueID is token, a random
// token of the save (newID), so that two saves never write the same bytes, even of equal
// sessions in the same millisecond; the save script records it (see saves.go).
func (st *Store) encode(state *delta.SessionState, token string) ([]byte, error) {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 256), state.Version)
	msg := delta.Message{Event: delta.EventAllSessionData, Context: st.cfg.Name, SessionID: state.ID,
		UniqueID: token, Sessions: []delta.SessionState{*state}}
	b, err := delta.BinaryCodec{}.AppendMessage(b, &msg) // the limit is checked below, with the size
	if err != nil {
		return nil, fmt.Errorf("redisstore: encoding session %s: %w", state.ID, err)
	}
	if n := len(b) - versionLen; n > st.cfg.MaxSessionSize {
		return nil, &LimitError{What: "session", Size: n, Limit: st.cfg.MaxSessionSize}
	}
	return b, nil
}

// decode parses a stored value read under the key of session id. Whatever data holds,
// it returns a session or an error wrapping ErrCorrupt, within the store's limits.
func (st *Store) decode(id string, data []byte) (*delta.SessionState, error) {
	if len(data) < versionLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(data))
	}
	version := binary.BigEndian.Uint64(data)
	msg, err := st.codec().DecodeMessage(data[versionLen:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	switch {
	case msg.Event != delta.EventAllSessionData || len(msg.Sessions) != 1:
		return nil, fmt.Errorf("%w: event %v with %d sessions", ErrCorrupt, msg.Event, len(msg.Sessions))
	case msg.Context != st.cfg.Name:
		return nil, fmt.Errorf("%w: stored for application %q", ErrCorrupt, msg.Context)
	case msg.Sessions[0].ID != id || msg.SessionID != id:
		return nil, fmt.Errorf("%w: holds session %q", ErrCorrupt, msg.Sessions[0].ID)
	case msg.Sessions[0].Version != version || version == 0:
		return nil, fmt.Errorf("%w: version %d, header says %d", ErrCorrupt, msg.Sessions[0].Version, version)
	case version == math.MaxUint64: // no save could follow it: the next version would be 0
		return nil, fmt.Errorf("%w: version %d", ErrCorrupt, version)
	case len(msg.Sessions[0].Attributes) > st.cfg.MaxAttributes:
		return nil, fmt.Errorf("%w: %d attributes", ErrCorrupt, len(msg.Sessions[0].Attributes))
	}
	s := msg.Sessions[0]
	// Set replaces an attribute: a name twice is not this store's, and the session's
	// methods would see only the first (a Remove would bring back the second).
	seen := make(map[string]struct{}, len(s.Attributes))
	for _, a := range s.Attributes {
		if _, dup := seen[a.Name]; dup {
			return nil, fmt.Errorf("%w: attribute %q twice", ErrCorrupt, a.Name)
		}
		seen[a.Name] = struct{}{}
	}
	return &s, nil
}
