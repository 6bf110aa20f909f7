package delta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/gotribes/tribes/jserial"
)

// reader consumes a byte slice; after the first error every call returns zero values.
type reader struct {
	b         []byte
	err       error
	maxString int
	arrays    *chunkArrays // a transfer chunk's sessions are decoded into these
	// budget is what the counts read may still make the decoder allocate ahead of the
	// elements they announce (count), in bytes.
	budget int
	// overLimit is set when the error is a well-formed field past one of the codec's
	// limits (a string, a value, a count), not bytes no encoder writes.
	overLimit bool
	// lenient is set while a chunk's session is decoded: a string or value past the
	// limits, there in full, is skipped and noted in skipped instead of failing the
	// whole message; the session is then left out of the chunk (decodeInto).
	lenient bool
	skipped string
	// leftAt: each of a session's left ids is followed by its time (flagLeftAt).
	leftAt bool
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
	sizeMetaStamp  = int(unsafe.Sizeof(metaStamp{}))
	sizeString     = int(unsafe.Sizeof(""))
	sizeBatched    = int(unsafe.Sizeof(Message{}) + unsafe.Sizeof((*Message)(nil)))
)

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = errors.New(what)
	}
	r.b = nil
}

// failLimit is fail for a field that is there in full but larger than the codec allows.
func (r *reader) failLimit(what string) {
	if r.err == nil {
		r.overLimit = true
	}
	r.fail(what)
}

// decodeErr is the error of a decoder that failed: ErrMalformed, and ErrMessageLimit
// too when a limit refused it.
func (r *reader) decodeErr() error {
	if r.overLimit {
		return fmt.Errorf("%w: %w: %w", ErrMalformed, ErrMessageLimit, r.err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, r.err)
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
	if n > uint64(len(r.b)) {
		r.fail("truncated " + what)
		return nil
	}
	if n > uint64(max) {
		if r.lenient {
			r.skip(fmt.Sprintf("%s of %d bytes, past the limit of %d", what, n, max))
			r.b = r.b[n:]
			return nil
		}
		r.failLimit(what + " too long")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// skip notes why the session being decoded (lenient) is left out: the first reason.
func (r *reader) skip(why string) {
	if r.skipped == "" {
		r.skipped = why
	}
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
	if n > uint64(len(r.b)/minSize) {
		r.fail("count too large")
		return 0
	}
	if n > uint64(max) {
		r.failLimit("count too large")
		return 0
	}
	r.charge(int(n) * elemSize)
	if r.err != nil {
		return 0
	}
	return int(n)
}

// charge takes cost, what the decoder allocates ahead of the elements a count announced
// (count's elemSize times the elements kept), from r.budget.
func (r *reader) charge(cost int) {
	if r.err != nil {
		return
	}
	if cost > r.budget {
		r.fail("counts announce more than the message holds")
		return
	}
	r.budget -= cost
}

// session decodes one session of a chunk into s (zero), its principal's Java form
// within limits.
func (r *reader) session(s *SessionState, maxValue, maxEntries int, limits jserial.DecoderConfig) {
	s.ID = r.str()
	s.CreationTime = r.varint()
	s.LastAccessedTime = r.varint()
	mi := r.varint()
	if mi < -1<<31 || mi > 1<<31-1 {
		r.fail("bad interval")
	}
	s.MaxInactive = int32(mi)
	f := r.byte()
	if f&^(sessFlagNew|sessFlagPrincipal|sessFlagPrincipalJava|sessFlagRemoved|sessFlagRenamed|sessFlagStamps|sessFlagBorn|sessFlagMeta) != 0 ||
		f&(sessFlagPrincipal|sessFlagPrincipalJava) == sessFlagPrincipalJava ||
		f&sessFlagRemoved != 0 && f&^sessFlagRenamed != sessFlagRemoved {
		r.fail("unknown session flags")
	}
	s.IsNew = f&sessFlagNew != 0
	s.Removed = f&sessFlagRemoved != 0
	s.Renamed = s.Removed && f&sessFlagRenamed != 0
	s.Version = r.uvarint()
	if f&sessFlagPrincipal != 0 {
		p := &Principal{Name: r.str()}
		n := r.count(1, 0, maxEntries)
		for i := 0; i < n && r.err == nil; i++ {
			p.Roles = append(p.Roles, r.str())
		}
		if f&sessFlagPrincipalJava != 0 {
			// A session with a field skipped (lenient) is left out: its Java form is not
			// read, which, skipped itself or checked against a name or role skipped, would
			// fail the whole chunk (TestChunkSessionWithPrincipalPastLimitsLeftOut).
			if java := r.value(maxValue); r.err == nil && r.skipped == "" {
				var err error
				jp, err := javaPrincipal(p, java, limits)
				switch {
				case err == nil:
					p = jp
				case r.lenient && errors.Is(err, jserial.ErrLimit):
					// The session is left out, the rest of the chunk read on.
					r.skip(fmt.Sprintf("the principal's Java form, past the codec's Limits: %v", err))
				default:
					// Past the codec's Limits: a limit, not bytes no encoder writes.
					r.err, r.b, r.overLimit = err, nil, errors.Is(err, jserial.ErrLimit)
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
	// A name the session repeats is held once, with the last value (and its stamp: the
	// stamps follow the attributes by index, read above), at the name's first place, as
	// JavaCodec reads a Tomcat session (lastValues): a Go peer naming an attribute twice
	// made Get return the first (TestBinaryCodecKeepsTheLastValueOfAName).
	s.Attributes = lastValues(s.Attributes)
	if f&sessFlagBorn != 0 {
		s.born = r.uvarint()
	}
	if f&sessFlagMeta != 0 {
		n := r.count(7, sizeMetaStamp, maxEntries)
		if n > 0 {
			s.meta = make([]metaStamp, 0, n) // the session keeps it (Session.load)
		}
		for i := 0; i < n && r.err == nil; i++ {
			m := metaStamp{typ: ActionType(r.byte())}
			if m.typ == ActionAttribute || m.typ > ActionNote {
				r.fail("bad meta stamp type")
			}
			m.name = r.name()
			m.st.version = r.uvarint()
			m.st.origin = r.uint32()
			s.meta = append(s.meta, m)
		}
	}
	if f&(sessFlagRemoved|sessFlagRenamed) == sessFlagRenamed {
		s.left, s.leftAt = r.leftIDs(maxEntries)
	}
	if s.Removed && (s.CreationTime != 0 || s.LastAccessedTime != 0 || s.MaxInactive != 0 || s.AuthType != "" ||
		len(s.Attributes)+len(s.Notes)+len(s.Listeners) > 0) {
		r.fail("a removal record holding session state")
	}
}

// leftIDs reads a session's ids binder's renames took it away from (AskLeft: a count,
// then the ids, each with its time with flagLeftAt) and returns those the session keeps
// (addLeft), with their times (nil without flagLeftAt): the last maxLeft, the oldest of
// them dropped past maxLeftBytes, and none past this node's MaxStringLen (a donor whose
// codec allows more), which is dropped, not the session: the ids are a hint for a rename
// back only (TestLeftIDPastTheLimitLeavesTheSessionIn). Only those kept are allocated
// (TestLeftIDsBytesBounded).
func (r *reader) leftIDs(maxEntries int) (ids []string, at []int64) {
	minSize := 1
	if r.leftAt {
		minSize = 2
	}
	n := r.count(minSize, 0, maxEntries)
	var last [maxLeft][]byte // the last ids read, a ring; they alias the message
	var lastAt [maxLeft]int64
	read := 0
	for i := 0; i < n && r.err == nil; i++ {
		before := r.skipped
		b := r.take(r.maxString, "string")
		var t int64
		if r.leftAt {
			t = r.varint()
		}
		if r.skipped != before {
			r.skipped = before
			continue
		}
		if r.err == nil && len(b) <= maxLeftBytes { // a longer one the session would not keep
			last[read%maxLeft], lastAt[read%maxLeft] = b, t
			read++
		}
	}
	// From the newest back, those within maxLeftBytes.
	keep, size := 0, 0
	for keep < min(read, maxLeft) {
		l := len(last[(read-1-keep)%maxLeft])
		if size+l > maxLeftBytes {
			break
		}
		size += l
		keep++
	}
	if keep == 0 || r.err != nil {
		return nil, nil
	}
	if r.charge(keep * (sizeString + 8)); r.err != nil {
		return nil, nil
	}
	ids = make([]string, 0, keep) // the session keeps them (addLeft)
	if r.leftAt {
		at = make([]int64, 0, keep)
	}
	for i := read - keep; i < read; i++ {
		ids = append(ids, string(last[i%maxLeft]))
		if r.leftAt {
			at = append(at, lastAt[i%maxLeft])
		}
	}
	return ids, at
}
