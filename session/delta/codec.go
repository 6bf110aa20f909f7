package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
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

// ErrMalformed is wrapped by every DecodeMessage error of BinaryCodec and JavaCodec.
var ErrMalformed = errors.New("delta: malformed session message")

// Defaults of BinaryCodec's limits.
const (
	DefaultMaxMessageSize = 64 << 20 // the transport's default frame limit
	DefaultMaxValueSize   = 16 << 20
	maxStringDefault      = 16 << 10
	DefaultMaxEntries     = 1 << 20 // sessions or actions in one message
)

// binaryMagic starts every BinaryCodec message: a byte no text or Java serialization
// stream starts with, "TS", and the format version.
var binaryMagic = []byte{0xF5, 'T', 'S', 1}

// BinaryCodec is the default MessageCodec: a compact, self-delimiting binary format with
// length caps. The zero value uses the defaults.
//
// Layout (uvarint/varint are encoding/binary's; a string or byte field is a uvarint length
// and the bytes):
//
//	F5 'T' 'S' 01 | uvarint event | context | sessionID | uniqueID | varint timestamp |
//	uvarint version (Total for EVT_ALL_SESSION_DATA) | flags byte (1 newID, 2 actions, 4 sessions) |
//	[newID] | [uvarint n, n × (type byte, op byte, name, [value if op is set])] |
//	[uvarint n, n × session]
//
// A session is: id | varint created | varint lastAccessed | varint maxInactive seconds |
// flags (1 isNew, 2 principal, 4 principal's Java form, 8 removed, 16 renamed, 32 stamps) |
// uvarint version | [principal name, uvarint n, n × role, [Java form]] | authType |
// uvarint n, n × (name, value) attributes | same for notes | uvarint n, n × listener name
// | [with stamps: per attribute (uvarint version, 4-byte origin), then uvarint n (at most
// 8), n × (name, uvarint version, 4-byte origin) removals]. The Java form of a
// principal with attributes, a user principal or Tomcat's bytes to keep is a byte field
// holding its GenericPrincipal$SerializablePrincipal stream, also at the end of an
// ActionPrincipal's value (EncodePrincipal); a node of an earlier version refuses a
// message holding one as malformed.
type BinaryCodec struct {
	// MaxMessageSize rejects larger messages before parsing. 0 means DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxStringLen caps ids, names and other strings. 0 means 16 KiB.
	MaxStringLen int
	// MaxValueSize caps one encoded attribute value. 0 means DefaultMaxValueSize.
	MaxValueSize int
	// MaxEntries caps the number of actions or sessions in one message. 0 means
	// DefaultMaxEntries.
	MaxEntries int
}

const (
	flagNewID    = 1
	flagActions  = 2
	flagSessions = 4

	sessFlagNew       = 1
	sessFlagPrincipal = 2
	// sessFlagPrincipalJava: the principal's Java form (EncodePrincipal's stream) follows
	// its roles.
	sessFlagPrincipalJava = 4
	// sessFlagRemoved: the entry is a removal's record (SessionState.Removed): no other
	// flag but sessFlagRenamed, and empty fields but the id and version. A node of an
	// earlier version refuses it as malformed, and is never sent one (it does not ask).
	sessFlagRemoved = 8
	// sessFlagRenamed: with sessFlagRemoved, the record of an old id (SessionState.Renamed).
	sessFlagRenamed = 16
	// sessFlagStamps: the attributes' stamps and the session's recent removals follow its
	// listeners (AskStamps). A node of an earlier version refuses it as malformed, and is
	// never sent one (it does not ask).
	sessFlagStamps = 32
)

// Owns reports whether data starts with the codec's header.
func (BinaryCodec) Owns(data []byte) bool { return bytes.HasPrefix(data, binaryMagic) }

// AppendMessage appends m's encoding to dst.
func (c BinaryCodec) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	if !m.Event.Valid() {
		return dst, fmt.Errorf("delta: cannot encode unknown event %d", m.Event)
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
			if b, err = appendSession(b, &m.Sessions[i]); err != nil {
				return dst, err
			}
		}
	}
	if n := c.maxMessage(); len(b)-len(dst) > n {
		return dst, fmt.Errorf("delta: encoded message of %d bytes exceeds the limit of %d", len(b)-len(dst), n)
	}
	return b, nil
}

func appendSession(b []byte, s *SessionState) ([]byte, error) {
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
	return b, nil
}

// sessionSize estimates appendSession's output, for sizing transfer chunks.
func sessionSize(s *SessionState) int {
	n := 48 + len(s.ID) + len(s.AuthType)
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
		return fmt.Errorf("%w: %d bytes exceed the limit of %d", ErrMalformed, len(data), c.maxMessage())
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
	if flags&^(flagNewID|flagActions|flagSessions) != 0 {
		r.fail("unknown flags")
	}
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
		n := r.count(minSession, sizeSession, c.maxEntries())
		if n > 0 {
			r.arrays = getChunkArrays(n)
			m.Sessions, m.chunk = r.arrays.sessions[:0], r.arrays
		}
		for i := 0; i < n && r.err == nil; i++ {
			m.Sessions = append(m.Sessions, SessionState{})
			r.session(&m.Sessions[i], c.maxValue(), c.maxEntries())
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		m.release()
		return fmt.Errorf("%w: %v", ErrMalformed, r.err)
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

// reader consumes a byte slice; after the first error every call returns zero values.
type reader struct {
	b         []byte
	err       error
	maxString int
	arrays    *chunkArrays // a transfer chunk's sessions are decoded into these
	// budget is what the counts read may still make the decoder allocate ahead of the
	// elements they announce (count), in bytes.
	budget int
}

// allocFactor bounds what the counts of a message (or of a batch, its messages
// included) make a decoder allocate ahead of the elements they announce: allocFactor
// times the message's length. An element takes at most 20 times its shortest encoding
// (an attribute of empty name and value: 2 bytes, 40 as a NamedValue), and each
// element has bytes of its own, so no stream the encoder writes comes near it; without
// it, counts nested in one another's first element (a batch's messages, the first
// one's sessions, the first session's attributes) each claimed the bytes left and
// allocated 65 times the input.
const allocFactor = 32

// The shortest encodings of a batch's message (its length prefix included) and of a
// chunk's session.
const (
	minBatchedMessage = 1 + 4 + 7 // length | magic | event, context, session id, unique id, timestamp, version, flags
	minSession        = 10        // id | three times | flags | version | auth type | three counts
)

// Sizes of what the decoder allocates per element a count announces.
const (
	sizeAction     = int(unsafe.Sizeof(Action{}))
	sizeSession    = int(unsafe.Sizeof(SessionState{}))
	sizeNamedValue = int(unsafe.Sizeof(NamedValue{}))
	sizeTomb       = int(unsafe.Sizeof(tomb{}))
	sizeBatched    = int(unsafe.Sizeof(Message{}) + unsafe.Sizeof((*Message)(nil)))
)

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = errors.New(what)
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uint32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// take returns the next length-prefixed field, at most max bytes long, aliasing the input.
func (r *reader) take(max int, what string) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) {
		r.fail(what + " too long")
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("truncated " + what)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.take(r.maxString, "string")) }

func (r *reader) value(max int) []byte {
	v := r.take(max, "value")
	if v == nil && r.err == nil {
		v = []byte{}
	}
	return v
}

// count reads an entry count: each entry needs at least minSize bytes, so a count larger
// than what remains is rejected before anything is allocated. A caller that allocates
// room for the entries ahead of them passes the size of one (elemSize), which the count
// takes from r.budget.
func (r *reader) count(minSize, elemSize, max int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if n > uint64(max) || n > uint64(len(r.b)/minSize) {
		r.fail("count too large")
		return 0
	}
	cost := int(n) * elemSize
	if cost > r.budget {
		r.fail("counts announce more than the message holds")
		return 0
	}
	r.budget -= cost
	return int(n)
}

// session decodes one session of a chunk into s (zero).
func (r *reader) session(s *SessionState, maxValue, maxEntries int) {
	s.ID = r.str()
	s.CreationTime = r.varint()
	s.LastAccessedTime = r.varint()
	mi := r.varint()
	if mi < -1<<31 || mi > 1<<31-1 {
		r.fail("bad interval")
	}
	s.MaxInactive = int32(mi)
	f := r.byte()
	if f&^(sessFlagNew|sessFlagPrincipal|sessFlagPrincipalJava|sessFlagRemoved|sessFlagRenamed|sessFlagStamps) != 0 ||
		f&(sessFlagPrincipal|sessFlagPrincipalJava) == sessFlagPrincipalJava ||
		f&sessFlagRemoved != 0 && f&^sessFlagRenamed != sessFlagRemoved || f&(sessFlagRemoved|sessFlagRenamed) == sessFlagRenamed {
		r.fail("unknown session flags")
	}
	s.IsNew = f&sessFlagNew != 0
	s.Removed = f&sessFlagRemoved != 0
	s.Renamed = f&sessFlagRenamed != 0
	s.Version = r.uvarint()
	if f&sessFlagPrincipal != 0 {
		p := &Principal{Name: r.str()}
		n := r.count(1, 0, maxEntries)
		for i := 0; i < n && r.err == nil; i++ {
			p.Roles = append(p.Roles, r.str())
		}
		if f&sessFlagPrincipalJava != 0 {
			if java := r.value(maxValue); r.err == nil {
				var err error
				if p, err = withJava(p, java); err != nil {
					r.err, r.b = err, nil
				}
			}
		}
		s.Principal = p
	}
	s.AuthType = r.str()
	for _, dst := range []*[]NamedValue{&s.Attributes, &s.Notes} {
		n := r.count(2, sizeNamedValue, maxEntries)
		if n > 0 {
			*dst = r.namedValues(n)
		}
		for i := 0; i < n && r.err == nil; i++ {
			*dst = append(*dst, NamedValue{Name: r.name(), Value: r.value(maxValue)})
		}
	}
	n := r.count(1, 0, maxEntries)
	for i := 0; i < n && r.err == nil; i++ {
		s.Listeners = append(s.Listeners, r.str())
	}
	if f&sessFlagStamps != 0 {
		s.stamped = true
		for i := 0; i < len(s.Attributes) && r.err == nil; i++ {
			s.Attributes[i].version = r.uvarint()
			s.Attributes[i].origin = r.uint32()
		}
		n := r.count(6, sizeTomb, maxTombs)
		if n > 0 {
			s.tombs = make([]tomb, 0, n) // the session keeps it (Session.load)
		}
		for i := 0; i < n && r.err == nil; i++ {
			t := tomb{name: r.name()}
			t.st.version = r.uvarint()
			t.st.origin = r.uint32()
			s.tombs = append(s.tombs, t)
		}
	}
	if s.Removed && (s.CreationTime != 0 || s.LastAccessedTime != 0 || s.MaxInactive != 0 || s.AuthType != "" ||
		len(s.Attributes)+len(s.Notes)+len(s.Listeners) > 0) {
		r.fail("a removal record holding session state")
	}
}
