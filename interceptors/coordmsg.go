package interceptors

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// CoordType is the 16-byte type field of a NonBlockingCoordinator message.
type CoordType [16]byte

// The constants of Tribes' NonBlockingCoordinator.
var (
	// CoordHeader starts every coordination message (COORD_HEADER).
	CoordHeader = [16]byte(mustHex("aa26dee39e5a413faf86fa9263ca0d3f"))
	// CoordRequest is the type of an election token (COORD_REQUEST).
	CoordRequest = CoordType(mustHex("68a1a4d672dc47edb1147a65ffd0cf1e"))
	// CoordConf is the type of a view confirmation (COORD_CONF).
	CoordConf = CoordType(mustHex("43586baa45174cbaa5e9a9e783564b14"))
	// CoordAlive starts an "alive" message, which receivers ignore (COORD_ALIVE).
	CoordAlive = [64]byte(mustHex("4f87e7f1c505405eb37189a83472c8d2ee660a2281f74773ba489b5848847f6f" +
		"4a4c8c326f674103b333dd00777509e67732b5979a244f25bcac850fea936ac9"))
)

// String is "request" or "conf" for those types, else the header in hex.
func (t CoordType) String() string {
	switch t {
	case CoordRequest:
		return "request"
	case CoordConf:
		return "conf"
	}
	return hex.EncodeToString(t[:])
}

// ErrBadCoordMessage is wrapped by every error about a malformed coordination message.
var ErrBadCoordMessage = errors.New("tribes: malformed coordination message")

// maxCoordViewMembers bounds the view of a parsed message; the bytes left bound it first
// (minCoordMember each).
const maxCoordViewMembers = 1 << 16

// minCoordMember is the fewest bytes a member of a view takes: its length, then a member
// with every variable part empty (77).
var minCoordMember = 4 + wire.Member{}.EncodedLen()

// CoordinationMessage is the payload of NonBlockingCoordinator's election messages:
//
//	COORD_HEADER(16) | int32 len | leader | int32 len | source |
//	int32 count | (int32 len | member)* | view id(16) | type(16)
//
// Members are in Tribes' member format (package wire); integers big-endian.
type CoordinationMessage struct {
	Leader channel.Member
	Source channel.Member
	View   []channel.Member
	ID     [16]byte // the view (election) id
	Type   CoordType
}

// IsCoordinationMessage reports whether a payload starts with COORD_HEADER.
func IsCoordinationMessage(b []byte) bool { return bytes.HasPrefix(b, CoordHeader[:]) }

// IsCoordAlive reports whether a payload starts with COORD_ALIVE.
func IsCoordAlive(b []byte) bool { return bytes.HasPrefix(b, CoordAlive[:]) }

// AppendBinary appends the message in Tribes' layout.
func (m *CoordinationMessage) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, CoordHeader[:]...)
	appendMember := func(dst []byte, mb *channel.Member) ([]byte, error) {
		if err := mb.Validate(); err != nil {
			return dst, err
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(mb.EncodedLen()))
		return wire.AppendMember(dst, mb), nil
	}
	var err error
	if dst, err = appendMember(dst, &m.Leader); err != nil {
		return nil, fmt.Errorf("tribes: coordination message leader: %w", err)
	}
	if dst, err = appendMember(dst, &m.Source); err != nil {
		return nil, fmt.Errorf("tribes: coordination message source: %w", err)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.View)))
	for i := range m.View {
		if dst, err = appendMember(dst, &m.View[i]); err != nil {
			return nil, fmt.Errorf("tribes: coordination message view member %d: %w", i, err)
		}
	}
	dst = append(dst, m.ID[:]...)
	return append(dst, m.Type[:]...), nil
}

// MarshalBinary returns the message in Tribes' layout.
func (m *CoordinationMessage) MarshalBinary() ([]byte, error) { return m.AppendBinary(nil) }

// ParseCoordinationMessage decodes a coordination message. Every length is checked against
// the bytes present; trailing bytes are an error.
func ParseCoordinationMessage(b []byte) (CoordinationMessage, error) {
	var m CoordinationMessage
	if !IsCoordinationMessage(b) {
		return m, fmt.Errorf("%w: no COORD_HEADER", ErrBadCoordMessage)
	}
	r := b[len(CoordHeader):]
	u32 := func(what string) (int, error) {
		if len(r) < 4 {
			return 0, fmt.Errorf("%w: truncated at %s", ErrBadCoordMessage, what)
		}
		v := int32(binary.BigEndian.Uint32(r))
		r = r[4:]
		if v < 0 {
			return 0, fmt.Errorf("%w: negative %s %d", ErrBadCoordMessage, what, v)
		}
		return int(v), nil
	}
	member := func(what string) (channel.Member, error) {
		n, err := u32(what + " length")
		if err != nil {
			return channel.Member{}, err
		}
		if n > len(r) {
			return channel.Member{}, fmt.Errorf("%w: %s of %d bytes, %d left", ErrBadCoordMessage, what, n, len(r))
		}
		mb, used, err := wire.ParseMember(r[:n])
		if err != nil {
			return channel.Member{}, fmt.Errorf("%w: %s: %w", ErrBadCoordMessage, what, err)
		}
		if used != n {
			return channel.Member{}, fmt.Errorf("%w: %s: %d of %d bytes used", ErrBadCoordMessage, what, used, n)
		}
		r = r[n:]
		return mb, nil
	}
	var err error
	if m.Leader, err = member("leader"); err != nil {
		return m, err
	}
	if m.Source, err = member("source"); err != nil {
		return m, err
	}
	count, err := u32("view count")
	if err != nil {
		return m, err
	}
	if count > maxCoordViewMembers || count > len(r)/minCoordMember {
		return m, fmt.Errorf("%w: view of %d members in %d bytes", ErrBadCoordMessage, count, len(r))
	}
	m.View = make([]channel.Member, count)
	for i := range m.View {
		if m.View[i], err = member(fmt.Sprintf("view member %d", i)); err != nil {
			return m, err
		}
	}
	if len(r) != 32 {
		return m, fmt.Errorf("%w: %d bytes where id and type (32) should end the message", ErrBadCoordMessage, len(r))
	}
	copy(m.ID[:], r[:16])
	copy(m.Type[:], r[16:])
	return m, nil
}
