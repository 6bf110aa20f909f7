package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/gotribes/tribes/jserial"
)

// MessageCodec turns session messages into channel payloads and back. The default is
// BinaryCodec, a compact Go format; JavaCodec speaks Tomcat's own messages (see the
// package documentation, "Wire compatibility").
//
// Implementations must be safe for concurrent use.
type MessageCodec interface {
	// Owns is a cheap check (a header) of whether data is a session message of this codec.
	// Messages it does not own are left to other listeners of the channel.
	Owns(data []byte) bool
	// AppendMessage appends the encoding of m to dst.
	AppendMessage(dst []byte, m *Message) ([]byte, error)
	// DecodeMessage parses data. The result may alias data (attribute values are
	// sub-slices of it); the caller must not modify data afterwards. Malformed input is an
	// error, never a panic.
	DecodeMessage(data []byte) (*Message, error)
}

// ErrMalformed is wrapped by every DecodeMessage error of BinaryCodec and JavaCodec, and
// by DecodePrincipal's.
var ErrMalformed = errors.New("delta: malformed session message")

// Defaults of BinaryCodec's limits.
const (
	DefaultMaxMessageSize = 64 << 20 // 4 × transport/nio's default frame limit (16 MiB), which a message fragmented on its way may exceed
	DefaultMaxValueSize   = 16 << 20
	maxStringDefault      = 16 << 10
	DefaultMaxEntries     = 1 << 20 // sessions or actions in one message
)

// binaryMagic starts every BinaryCodec message: a byte no text or Java serialization
// stream starts with, "TS", and the format version.
var binaryMagic = []byte{0xF5, 'T', 'S', 1}

// BinaryCodec is the default MessageCodec: a compact, self-delimiting binary format with
// length caps. The zero value uses the defaults; NewCluster refuses a negative limit,
// its Limits' included (ErrInvalidConfig).
//
// Layout (uvarint/varint are encoding/binary's; a string or byte field is a uvarint length
// and the bytes):
//
//	F5 'T' 'S' 01 | uvarint event | context | sessionID | uniqueID | varint timestamp |
//	uvarint version (Total for EVT_ALL_SESSION_DATA) | flags byte (1 newID, 2 actions, 4 sessions,
//	8 left ids' times) |
//	[newID] | [uvarint n, n × (type byte, op byte, name, [value if op is set])] |
//	[uvarint n, n × session]
//
// A session is: id | varint created | varint lastAccessed | varint maxInactive seconds |
// flags (1 isNew, 2 principal, 4 principal's Java form, 8 removed, 16 renamed, 32 stamps,
// 64 born, 128 meta stamps) |
// uvarint version | [principal name, uvarint n, n × role, [Java form]] | authType |
// uvarint n, n × (name, value) attributes | same for notes | uvarint n, n × listener name
// | [with stamps: per attribute (uvarint version, 4-byte origin), then uvarint n (at most
// 8), n × (name, uvarint version, 4-byte origin) removals] | [with born: uvarint the
// version of the removal the session was made again above] | [with meta stamps: uvarint
// n, n × (type byte, name, uvarint version, 4-byte origin)] | [with renamed, not removed:
// uvarint n, n × (id, [varint time (unix ms) with the message's flag 8])], the ids
// binder's renames took it away from, oldest first. The Java form of a
// principal with attributes, a user principal or Tomcat's bytes to keep is a byte field
// holding its GenericPrincipal$SerializablePrincipal stream, also at the end of an
// ActionPrincipal's value (EncodePrincipal); a node of an earlier version refuses a
// message holding one as malformed.
type BinaryCodec struct {
	// MaxMessageSize rejects larger messages before parsing, and the encoder refuses them
	// (ErrMessageLimit). 0 means DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxStringLen caps ids, names and other strings, a principal's name and roles
	// among them (in a session of a state transfer, and in a principal action's value:
	// the Manager drops the action and counts it in Stats.BadActions;
	// TestBinaryCodecPrincipalActionStringsWithinLimits; a sender refuses to encode
	// such an action, ErrMessageLimit). 0 means 16 KiB.
	MaxStringLen int
	// MaxValueSize caps one encoded attribute value (a delta past it is refused whole;
	// a session of a state transfer chunk with one is left out of the chunk, the rest
	// applied: TestTransferRefusesOnlyTheSessionPastLimits). 0 means DefaultMaxValueSize.
	MaxValueSize int
	// MaxEntries caps the number of actions or sessions in one message, and of a
	// principal's roles (as MaxStringLen its name, on both sides): of a state transfer
	// chunk of more sessions, the first MaxEntries are read and the others left out,
	// counted in Stats.TransferSessionsRefused (TestChunkPastMaxEntriesKeepsTheFirst).
	// 0 means DefaultMaxEntries.
	MaxEntries int
	// Limits bound the Java serialization streams read (depth, handles, lengths, size:
	// Java's jdk.serialFilter maxdepth, maxrefs, maxarray and maxbytes): a principal's
	// Java form, in a session of a state transfer (that session past them is left out of
	// the chunk, counted in Stats.TransferSessionsRefused) and in a principal action's
	// value (the Manager drops the action and counts it in Stats.BadActions), and the
	// attribute values its managers' JavaValueCodec reads where that codec's own Limits
	// fields are zero. Zero fields take jserial's defaults
	// (TestBinaryCodecPrincipalReadWithItsLimits).
	Limits jserial.DecoderConfig
}

const (
	flagNewID    = 1
	flagActions  = 2
	flagSessions = 4
	// flagLeftAt: each id of a session's left ids (sessFlagRenamed) is followed by its
	// time, a varint (SessionState.leftAt), in every session of the message: the asker
	// asked for them (leftAtAsk). A node of an earlier version refuses it as malformed,
	// and is never sent one (it does not ask).
	flagLeftAt = 8

	sessFlagNew       = 1
	sessFlagPrincipal = 2
	// sessFlagPrincipalJava: the principal's Java form (EncodePrincipal's stream) follows
	// its roles.
	sessFlagPrincipalJava = 4
	// sessFlagRemoved: the entry is a removal's record (SessionState.Removed): no other
	// flag but sessFlagRenamed, and empty fields but the id and version. A node of an
	// earlier version refuses it as malformed, and is never sent one (it does not ask).
	sessFlagRemoved = 8
	// sessFlagRenamed: with sessFlagRemoved, the record of an old id (SessionState.Renamed);
	// without it, a live session's ids that binder's renames took it away from
	// (SessionState.left: a count, then the ids) end it (AskLeft); the decoder keeps the
	// last maxLeft within maxLeftBytes and drops one past its MaxStringLen, not the
	// session. A node of an
	// earlier version refuses the latter as malformed, and is never sent one (it does not
	// ask).
	sessFlagRenamed = 16
	// sessFlagStamps: the attributes' stamps and the session's recent removals follow its
	// listeners (AskStamps). A node of an earlier version refuses it as malformed, and is
	// never sent one (it does not ask).
	sessFlagStamps = 32
	// sessFlagBorn: the version of the removal the session was made again above
	// (SessionState.born) ends it (AskBorn). A node of an earlier version refuses it as
	// malformed, and is never sent one (it does not ask).
	sessFlagBorn = 64
	// sessFlagMeta: the stamps of the session's parts that are not attributes
	// (SessionState.meta) follow (AskMetaStamps). A node of an earlier version refuses
	// it as malformed, and is never sent one (it does not ask).
	sessFlagMeta = 128
)

// Owns reports whether data starts with the codec's header.
func (BinaryCodec) Owns(data []byte) bool { return bytes.HasPrefix(data, binaryMagic) }

// AppendMessage appends m's encoding to dst.
func (c BinaryCodec) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	if !m.Event.Valid() {
		return dst, fmt.Errorf("delta: cannot encode unknown event %d", m.Event)
	}
	if err := c.checkLimits(m); err != nil {
		return dst, err
	}
	b := append(dst, binaryMagic...)
	b = binary.AppendUvarint(b, uint64(m.Event))
	b = appendString(b, m.Context)
	b = appendString(b, m.SessionID)
	b = appendString(b, m.UniqueID)
	b = binary.AppendVarint(b, m.Timestamp)
	if m.Event == EventAllSessionData {
		b = binary.AppendUvarint(b, uint64(max(m.Total, 0)))
	} else {
		b = binary.AppendUvarint(b, m.Version)
	}
	var flags byte
	if m.NewID != "" {
		flags |= flagNewID
	}
	if len(m.Actions) > 0 {
		flags |= flagActions
	}
	if len(m.Sessions) > 0 {
		flags |= flagSessions
		if slices.ContainsFunc(m.Sessions, func(s SessionState) bool { return s.leftAt != nil }) {
			flags |= flagLeftAt
		}
	}
	b = append(b, flags)
	if flags&flagNewID != 0 {
		b = appendString(b, m.NewID)
	}
	if flags&flagActions != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Actions)))
		for i := range m.Actions {
			a := &m.Actions[i]
			b = append(b, byte(a.Type), byte(a.Op))
			b = appendString(b, a.Name)
			if a.Op == OpSet {
				b = appendBytes(b, a.Value)
			}
		}
	}
	if flags&flagSessions != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Sessions)))
		for i := range m.Sessions {
			var err error
			if b, err = appendSession(b, &m.Sessions[i], flags&flagLeftAt != 0); err != nil {
				return dst, err
			}
		}
	}
	if n := c.maxMessage(); len(b)-len(dst) > n {
		// As a receiver configured alike refuses it (ErrMessageLimit): Replicate leaves out
		// the values that make it so (TestChangePastOwnMaxMessageSizeDoesNotBlockLaterDeltas).
		return dst, fmt.Errorf("%w: an encoded message of %d bytes (MaxMessageSize %d)", ErrMessageLimit, len(b)-len(dst), n)
	}
	return b, nil
}

func appendSession(b []byte, s *SessionState, leftAt bool) ([]byte, error) {
	b = appendString(b, s.ID)
	b = binary.AppendVarint(b, s.CreationTime)
	b = binary.AppendVarint(b, s.LastAccessedTime)
	b = binary.AppendVarint(b, int64(s.MaxInactive))
	var f byte
	if s.IsNew {
		f |= sessFlagNew
	}
	if s.Removed {
		if s.IsNew || s.Principal != nil || s.AuthType != "" || s.CreationTime != 0 || s.LastAccessedTime != 0 ||
			s.MaxInactive != 0 || len(s.Attributes)+len(s.Notes)+len(s.Listeners) > 0 {
			return b, fmt.Errorf("delta: the removal record of %s holds session state", s.ID)
		}
		f |= sessFlagRemoved
		if s.Renamed {
			f |= sessFlagRenamed
		}
	} else if s.Renamed {
		return b, fmt.Errorf("delta: session %s: Renamed without Removed", s.ID)
	}
	if s.stamped && !s.Removed {
		f |= sessFlagStamps
	}
	if s.born > 0 && !s.Removed {
		f |= sessFlagBorn
	}
	if len(s.meta) > 0 && !s.Removed {
		f |= sessFlagMeta
	}
	if len(s.left) > 0 && !s.Removed {
		f |= sessFlagRenamed
	}
	var java []byte
	if p := s.Principal; p != nil {
		f |= sessFlagPrincipal
		if p.hasJava() {
			f |= sessFlagPrincipalJava
			var err error
			if java, err = appendPrincipalJava(nil, p); err != nil {
				return b, err
			}
		}
	}
	b = append(b, f)
	b = binary.AppendUvarint(b, s.Version)
	if s.Principal != nil {
		b = appendString(b, s.Principal.Name)
		b = binary.AppendUvarint(b, uint64(len(s.Principal.Roles)))
		for _, r := range s.Principal.Roles {
			b = appendString(b, r)
		}
		if java != nil {
			b = appendBytes(b, java)
		}
	}
	b = appendString(b, s.AuthType)
	for _, list := range [][]NamedValue{s.Attributes, s.Notes} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, nv := range list {
			b = appendString(b, nv.Name)
			b = appendBytes(b, nv.Value)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(s.Listeners)))
	for _, l := range s.Listeners {
		b = appendString(b, l)
	}
	if f&sessFlagStamps != 0 {
		for _, nv := range s.Attributes {
			b = binary.AppendUvarint(b, nv.version)
			b = binary.BigEndian.AppendUint32(b, nv.origin)
		}
		b = binary.AppendUvarint(b, uint64(len(s.tombs))) // at most maxTombs (bury)
		for _, t := range s.tombs {
			b = appendString(b, t.name)
			b = binary.AppendUvarint(b, t.st.version)
			b = binary.BigEndian.AppendUint32(b, t.st.origin)
		}
	}
	if f&sessFlagBorn != 0 {
		b = binary.AppendUvarint(b, s.born)
	}
	if f&sessFlagMeta != 0 {
		b = binary.AppendUvarint(b, uint64(len(s.meta)))
		for _, m := range s.meta {
			b = append(b, byte(m.typ))
			b = appendString(b, m.name)
			b = binary.AppendUvarint(b, m.st.version)
			b = binary.BigEndian.AppendUint32(b, m.st.origin)
		}
	}
	if f&(sessFlagRemoved|sessFlagRenamed) == sessFlagRenamed {
		b = binary.AppendUvarint(b, uint64(len(s.left)))
		var at []leftID
		if leftAt {
			at = leftOf(s.left, s.leftAt) // a session without times: by their place
		}
		for i, id := range s.left {
			b = appendString(b, id)
			if leftAt {
				b = binary.AppendVarint(b, at[i].at)
			}
		}
	}
	return b, nil
}

// sessionSize estimates appendSession's output, for sizing transfer chunks.
func sessionSize(s *SessionState) int {
	n := 58 + len(s.ID) + len(s.AuthType) // 10 for born
	if p := s.Principal; p != nil {
		n += len(p.Name) + 8
		for _, r := range p.Roles {
			n += len(r) + 2
		}
		if p.hasJava() {
			n += 256 + 64*len(p.Attributes) // a rough guess at the Java form
		}
	}
	for _, list := range [][]NamedValue{s.Attributes, s.Notes} {
		for _, nv := range list {
			n += len(nv.Name) + len(nv.Value) + 6
		}
	}
	for _, l := range s.Listeners {
		n += len(l) + 2
	}
	for _, m := range s.meta {
		n += len(m.name) + 16
	}
	for _, id := range s.left {
		n += len(id) + 2 + 10 // and its time
	}
	if s.stamped {
		n += 14*len(s.Attributes) + 1
		for _, t := range s.tombs {
			n += len(t.name) + 16
		}
	}
	return n
}

// DecodeMessage parses data; errors wrap ErrMalformed. Attribute values alias data.
func (c BinaryCodec) DecodeMessage(data []byte) (*Message, error) {
	m := &Message{}
	if err := c.decodeInto(m, data, nil); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeInto parses data into m (zero). With a, the strings a batch's messages share
// (context, action names) are allocated once and the actions go into a's array.
func (c BinaryCodec) decodeInto(m *Message, data []byte, a *batchArena) error {
	if len(data) > c.maxMessage() {
		return fmt.Errorf("%w: %w: %d bytes exceed the limit of %d", ErrMalformed, ErrMessageLimit, len(data), c.maxMessage())
	}
	if !c.Owns(data) {
		return fmt.Errorf("%w: bad header", ErrMalformed)
	}
	r := reader{b: data[len(binaryMagic):], maxString: c.maxString(), budget: allocFactor * len(data)}
	if a != nil { // a batch's messages share its budget
		r.budget = a.budget
		defer func() { a.budget = r.budget }()
	}
	ev := r.uvarint()
	if r.err == nil && (ev > 1<<31 || !Event(ev).Valid()) {
		r.fail("unknown event")
	}
	m.Event = Event(ev)
	m.Context = a.str(&r)
	m.SessionID = r.str()
	m.UniqueID = r.str()
	m.Timestamp = r.varint()
	if v := r.uvarint(); m.Event == EventAllSessionData {
		m.Total = int(min(v, math.MaxInt32))
	} else {
		m.Version = v
	}
	flags := r.byte()
	if flags&^(flagNewID|flagActions|flagSessions|flagLeftAt) != 0 || flags&(flagLeftAt|flagSessions) == flagLeftAt {
		r.fail("unknown flags")
	}
	r.leftAt = flags&flagLeftAt != 0
	if flags&flagNewID != 0 {
		m.NewID = r.str()
	}
	if flags&flagActions != 0 {
		n := r.count(3, sizeAction, c.maxEntries())
		if n > 0 {
			m.Actions = a.actions(n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			var act Action
			act.Type = ActionType(r.byte())
			act.Op = Op(r.byte())
			if act.Type > ActionNote || act.Op > OpRemove {
				r.fail("unknown action")
				break
			}
			act.Name = a.str(&r)
			if act.Op == OpSet {
				act.Value = r.value(c.maxValue())
			}
			m.Actions = append(m.Actions, act)
		}
	}
	if flags&flagSessions != 0 {
		// A chunk of more sessions than MaxEntries (a donor whose codec allows more): the
		// first MaxEntries are read, the others read to their end and left out, as a
		// session past the limits is. Each is there in full, every field
		// length-prefixed, so no session is read from another's bytes
		// (TestChunkPastMaxEntriesKeepsTheFirst).
		n := r.count(minSession, 0, math.MaxInt)
		keep := min(n, c.maxEntries())
		r.charge(keep * sizeSession)
		if keep > 0 && r.err == nil {
			r.arrays = getChunkArrays(keep)
			m.Sessions, m.chunk = r.arrays.sessions[:0], r.arrays
		}
		for i := 0; i < keep && r.err == nil; i++ {
			m.Sessions = append(m.Sessions, SessionState{})
			last := len(m.Sessions) - 1
			r.lenient, r.skipped = true, ""
			r.session(&m.Sessions[last], c.maxValue(), c.maxEntries(), c.Limits)
			r.lenient = false
			if r.skipped != "" && r.err == nil {
				// A field past this node's limits (a donor whose codec allows more):
				// this session is left out, not the whole chunk.
				m.leaveOut(m.Sessions[last].ID, r.skipped)
				m.Sessions[last] = SessionState{}
				m.Sessions = m.Sessions[:last]
			}
		}
		r.arrays = nil // what the sessions left out hold goes with them
		why := ""
		if keep < n {
			why = fmt.Sprintf("past the chunk's first %d sessions (MaxEntries %d)", keep, c.maxEntries())
		}
		for i := keep; i < n && r.err == nil; i++ {
			var s SessionState
			r.lenient, r.skipped = true, ""
			r.session(&s, c.maxValue(), c.maxEntries(), c.Limits)
			r.lenient = false
			if r.err == nil {
				m.leaveOut(s.ID, why)
			}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		m.release()
		return r.decodeErr()
	}
	return nil
}

// batchArena holds what the messages of one batch share as they are decoded: the
// strings seen last (a batch's messages name the same context, and usually the same
// attributes) and an array their actions are cut from.
type batchArena struct {
	seen   [4]string
	next   int // the entry of seen to replace
	acts   []Action
	budget int // reader.budget, of the whole batch
}

// str reads a string like r.str, returning one a already holds when the bytes are
// equal. A nil a allocates every string.
func (a *batchArena) str(r *reader) string {
	if a == nil {
		return r.str()
	}
	b := r.take(r.maxString, "string")
	for _, s := range a.seen {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	a.seen[a.next] = s
	a.next = (a.next + 1) % len(a.seen)
	return s
}

// actions returns an empty slice with room for n actions, cut from a's array (which
// grows as needed) when a is not nil.
func (a *batchArena) actions(n int) []Action {
	if a == nil {
		return make([]Action, 0, n)
	}
	if len(a.acts)+n > cap(a.acts) {
		a.acts = make([]Action, 0, max(2*cap(a.acts), n, 16))
	}
	at := len(a.acts)
	a.acts = a.acts[:at+n]
	return a.acts[at : at : at+n]
}

func (c BinaryCodec) maxMessage() int { return orDefault(c.MaxMessageSize, DefaultMaxMessageSize) }
func (c BinaryCodec) maxString() int  { return orDefault(c.MaxStringLen, maxStringDefault) }
func (c BinaryCodec) maxValue() int   { return orDefault(c.MaxValueSize, DefaultMaxValueSize) }
func (c BinaryCodec) maxEntries() int { return orDefault(c.MaxEntries, DefaultMaxEntries) }

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}
