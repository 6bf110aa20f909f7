package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unique"
)

// Member marker bytes: "TRIBES-B" / "TRIBES-E" followed by 0x01 0x00.
var (
	memberBegin = []byte{'T', 'R', 'I', 'B', 'E', 'S', '-', 'B', 1, 0}
	memberEnd   = []byte{'T', 'R', 'I', 'B', 'E', 'S', '-', 'E', 1, 0}
)

// ShutdownCommand is Tribes' Member.SHUTDOWN_PAYLOAD ("BABY-ALEX"), carried in the command
// field of the last membership packet a node sends when it stops.
var ShutdownCommand = []byte("BABY-ALEX")

const (
	memberFixedLen = 10 + 4 + 8 + 4 + 4 + 4 + 1 + 4 + 4 + 16 + 4 + 10 // 73
	// MaxMemberSize is the largest member a decoder accepts (Java's multicast packet limit).
	MaxMemberSize = 65535
	// MaxHostLen is the longest host address Java writes.
	MaxHostLen = 127
)

// ErrBadMember is wrapped by every error about malformed member bytes.
var ErrBadMember = errors.New("tribes/wire: malformed member")

// UniqueID is the 16-byte identity Tribes gives a member (and usually a message).
type UniqueID [16]byte

// String returns the id as 32 lowercase hex digits.
func (u UniqueID) String() string { return hex.EncodeToString(u[:]) }

// TomcatText returns the id as Tomcat writes a uniqueId attribute (StaticMember's in
// server.xml): 16 signed bytes in braces, "{-64,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}", which
// ParseUniqueID reads back.
func (u UniqueID) TomcatText() string {
	b := make([]byte, 0, 2+len(u)*5)
	b = append(b, '{')
	for i, c := range u {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(int8(c)), 10)
	}
	return string(append(b, '}'))
}

// ParseUniqueID parses 32 hex digits (dashes allowed, as in UUID text), or Tomcat's text
// of a uniqueId attribute (StaticMember's in server.xml): 16 signed bytes in braces,
// "{-64,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}", spaces around them allowed, each from -128 to 127
// as Tomcat's setUniqueId requires. Its errors wrap ErrBadMemberText.
func ParseUniqueID(s string) (UniqueID, error) {
	var u UniqueID
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") {
		return parseTomcatID(s, t)
	}
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		hint := ""
		if _, err := strconv.ParseInt(s, 10, 8); err == nil {
			// A shell expanded an unquoted {-64,1,...} into words, the first one read here.
			hint = "; quote Tomcat's text in a shell, '{-64,1,...}', which expands it into words unquoted"
		}
		return u, fmt.Errorf("%w: unique id %s: want 32 hex digits, or Tomcat's uniqueId text {-64,1,...} (16 signed bytes)%s",
			ErrBadMemberText, quoteIDText(s), hint)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("%w: unique id %s: %w; want 32 hex digits, or Tomcat's uniqueId text {-64,1,...} "+
			"(16 signed bytes)", ErrBadMemberText, quoteIDText(s), err)
	}
	return u, nil
}

// quoteIDText quotes s for an error, at most its first maxTomcatIDText bytes and then its
// length, so that a huge text does not make a huge error.
func quoteIDText(s string) string {
	if len(s) <= maxTomcatIDText {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:maxTomcatIDText], len(s))
}

// maxTomcatIDText bounds the text parseTomcatID splits: 16 bytes of "-128" with a comma and
// spaces each fit many times over.
const maxTomcatIDText = 256

// parseTomcatID parses t, s trimmed and starting with "{", as Tomcat's uniqueId text.
func parseTomcatID(s, t string) (UniqueID, error) {
	var u UniqueID
	bad := func(why string) error {
		return fmt.Errorf("%w: unique id %s: %s; want Tomcat's uniqueId text, 16 bytes from -128 to 127 in "+
			"braces as {-64,1,...}, or 32 hex digits", ErrBadMemberText, quoteIDText(s), why)
	}
	if len(t) > maxTomcatIDText {
		return u, bad(fmt.Sprintf("%d characters", len(t)))
	}
	if !strings.HasSuffix(t, "}") {
		return u, bad("no closing brace")
	}
	parts := strings.Split(t[1:len(t)-1], ",")
	if len(parts) != len(u) {
		return u, bad(fmt.Sprintf("%d bytes", len(parts)))
	}
	for i, p := range parts {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 8)
		if err != nil {
			return u, bad(fmt.Sprintf("byte %d, %q, is not a number from -128 to 127", i, p))
		}
		u[i] = byte(n)
	}
	return u, nil
}

// Member is one node of a Tribes group as it appears on the wire (MemberImpl).
//
// A Member is a value: treat its byte slices as read-only once it has been handed to
// other code, and copy it with Clone before changing a field.
type Member struct {
	// AliveTime is how many milliseconds the member's membership service has been running.
	// Members are ordered by it, oldest (largest) first.
	AliveTime int64
	// Port is the TCP receiver port.
	Port int32
	// SecurePort is advertised only; -1 when none.
	SecurePort int32
	// UDPPort is the UDP receiver port; -1 when none.
	UDPPort int32
	// Host is the raw address: 4 bytes for IPv4, 16 for IPv6.
	Host []byte
	// Command is empty, or ShutdownCommand in a member's last packet.
	Command []byte
	// Domain is the cluster domain (ISO-8859-1 bytes); empty by default.
	Domain []byte
	// UniqueID identifies one run of a node.
	UniqueID UniqueID
	// Payload is opaque application data advertised with the member.
	Payload []byte
}

// MemberKey is a comparable identity of a Member: host bytes, port and unique id, as Java's
// MemberImpl.equals. Use it as a map key. Two members have the same key exactly when Equal
// says they are the same, whatever the length of their hosts (TestMemberKeyLongHost): the
// 4 or 16 bytes of an IP address are kept in the key itself; the bytes of a longer host
// (which Java writes when given one, and a decoder accepts up to MaxHostLen) beyond the
// 16th are interned (package unique), so that the key stays plain memory, as cheap to
// hash and compare for every host.
type MemberKey struct {
	host    [16]byte
	hostLen uint8 // of host: the first 16 bytes at most
	port    int32
	id      UniqueID
	rest    unique.Handle[string] // the host's bytes after the 16th; the zero Handle for IP addresses
}

// Key returns the member's identity.
func (m Member) Key() MemberKey {
	var k MemberKey
	k.hostLen = uint8(copy(k.host[:], m.Host))
	if len(m.Host) > len(k.host) {
		k.rest = unique.Make(string(m.Host[len(k.host):]))
	}
	k.port = m.Port
	k.id = m.UniqueID
	return k
}

// Unmapped returns m with an IPv4 host given in its 16-byte form (net.IPv4,
// net.ParseIP) in its 4-byte form, the one Tribes nodes put in their messages and
// membership packets; the host is copied, m is left as it is. Any other host is
// returned as it is. Member keys follow Java's equality (the host's bytes), so a member
// built from a 16-byte IPv4 host is another member than the same node read off the wire:
// code that takes members from users converts them with Unmapped (TestMemberUnmapped).
func (m Member) Unmapped() Member {
	if len(m.Host) != net.IPv6len {
		return m
	}
	if v4 := net.IP(m.Host).To4(); v4 != nil {
		m.Host = bytes.Clone(v4)
	}
	return m
}

// Unmapped returns k with an IPv4 host in its 16-byte form in its 4-byte form: the key of
// m.Unmapped() for a member m of key k. Any other key is returned as it is.
func (k MemberKey) Unmapped() MemberKey {
	if k.hostLen != net.IPv6len {
		return k
	}
	if v4 := net.IP(k.host[:]).To4(); v4 != nil {
		var host [16]byte
		k.hostLen = uint8(copy(host[:], v4))
		k.host = host
	}
	return k
}

// Equal reports whether a and b are the same member (host, port, unique id).
func (m Member) Equal(o Member) bool {
	return m.Port == o.Port && m.UniqueID == o.UniqueID && bytes.Equal(m.Host, o.Host)
}

// IsShutdown reports whether the member announces its shutdown.
func (m Member) IsShutdown() bool { return bytes.Equal(m.Command, ShutdownCommand) }

// IP returns the host as a netip.Addr (the zero Addr if the host bytes are not 4 or 16 long).
func (m Member) IP() netip.Addr {
	a, _ := netip.AddrFromSlice(m.Host)
	return a.Unmap()
}

// Addr returns "host:port" for dialling the member's TCP receiver.
func (m Member) Addr() string {
	return net.JoinHostPort(m.IP().String(), strconv.Itoa(int(m.Port)))
}

// String describes the member for logs: host:port and unique id.
func (m Member) String() string {
	return m.Addr() + "/" + m.UniqueID.String()
}

// Clone returns a deep copy.
func (m Member) Clone() Member {
	m.Host = bytes.Clone(m.Host)
	m.Command = bytes.Clone(m.Command)
	m.Domain = bytes.Clone(m.Domain)
	m.Payload = bytes.Clone(m.Payload)
	return m
}

// EncodedLen is the size of the member's wire form.
func (m Member) EncodedLen() int {
	return memberFixedLen + len(m.Host) + len(m.Command) + len(m.Domain) + len(m.Payload)
}

// Validate checks that the member can be written in Tribes' format.
func (m Member) Validate() error {
	if len(m.Host) > MaxHostLen {
		return fmt.Errorf("%w: host has %d bytes, at most %d", ErrBadMember, len(m.Host), MaxHostLen)
	}
	if n := m.EncodedLen(); n > MaxMemberSize {
		return fmt.Errorf("%w: %d bytes encoded, at most %d", ErrBadMember, n, MaxMemberSize)
	}
	return nil
}

// AppendMember appends the wire form of m (MemberImpl.getData) to dst.
// The caller should have called Validate; an over-long host is truncated to MaxHostLen.
func AppendMember(dst []byte, m *Member) []byte {
	host := m.Host
	if len(host) > MaxHostLen {
		host = host[:MaxHostLen]
	}
	bodyLen := m.EncodedLen() - 24 - (len(m.Host) - len(host))
	dst = append(dst, memberBegin...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.AliveTime))
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.Port))
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.SecurePort))
	dst = binary.BigEndian.AppendUint32(dst, uint32(m.UDPPort))
	dst = append(dst, byte(len(host)))
	dst = append(dst, host...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.Command)))
	dst = append(dst, m.Command...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.Domain)))
	dst = append(dst, m.Domain...)
	dst = append(dst, m.UniqueID[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(m.Payload)))
	dst = append(dst, m.Payload...)
	return append(dst, memberEnd...)
}

// MarshalBinary returns the member's wire form.
func (m Member) MarshalBinary() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return AppendMember(make([]byte, 0, m.EncodedLen()), &m), nil
}

// IsMemberPacket reports whether b starts with the member begin marker (a membership
// heartbeat rather than a frame).
func IsMemberPacket(b []byte) bool { return bytes.HasPrefix(b, memberBegin) }

// memberReader walks a member's body with bounds checks.
type memberReader struct {
	b   []byte
	off int
	err error
}

func (r *memberReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d", ErrBadMember, what, r.off)
	}
}

func (r *memberReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(what)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *memberReader) u32(what string) int32 {
	s := r.take(4, what)
	if s == nil {
		return 0
	}
	return int32(binary.BigEndian.Uint32(s))
}

// bytesField reads a length (named lenWhat in errors) and that many bytes (what).
func (r *memberReader) bytesField(lenWhat, what string) []byte {
	n := r.u32(lenWhat)
	return r.take(int(n), what)
}

// ParseMember decodes one member from the start of b and returns how many bytes it used.
// The returned member's slices are copies; b may be reused afterwards.
// Unlike Java it cross-checks every inner length against the announced body length.
func ParseMember(b []byte) (Member, int, error) {
	m, n, err := ParseMemberView(b)
	if err != nil {
		return m, n, err
	}
	m.Host = bytes.Clone(m.Host)
	m.Command = cloneOrNil(m.Command)
	m.Domain = cloneOrNil(m.Domain)
	m.Payload = cloneOrNil(m.Payload)
	return m, n, nil
}

// ParseMemberView is ParseMember without the copies: the member's slices alias b, so it
// allocates nothing and is valid only while b is. Clone what is kept.
func ParseMemberView(b []byte) (Member, int, error) {
	var m Member
	if len(b) < memberFixedLen {
		return m, 0, fmt.Errorf("%w: %d bytes, at least %d needed", ErrBadMember, len(b), memberFixedLen)
	}
	if !bytes.Equal(b[:10], memberBegin) {
		return m, 0, fmt.Errorf("%w: missing TRIBES-B marker", ErrBadMember)
	}
	bodyLen := int32(binary.BigEndian.Uint32(b[10:]))
	if bodyLen < memberFixedLen-24 || int64(bodyLen) > int64(len(b)-24) {
		return m, 0, fmt.Errorf("%w: body length %d does not fit %d bytes", ErrBadMember, bodyLen, len(b))
	}
	total := int(bodyLen) + 24
	if !bytes.Equal(b[14+int(bodyLen):total], memberEnd) {
		return m, 0, fmt.Errorf("%w: missing TRIBES-E marker", ErrBadMember)
	}
	r := memberReader{b: b[14 : 14+int(bodyLen)]}
	if s := r.take(8, "alive time"); s != nil {
		m.AliveTime = int64(binary.BigEndian.Uint64(s))
	}
	m.Port = r.u32("port")
	m.SecurePort = r.u32("secure port")
	m.UDPPort = r.u32("udp port")
	if hl := r.take(1, "host length"); hl != nil {
		if hl[0] > MaxHostLen {
			r.fail("host length")
		}
		m.Host = r.take(int(hl[0]), "host")
	}
	m.Command = nilIfEmpty(r.bytesField("command length", "command"))
	m.Domain = nilIfEmpty(r.bytesField("domain length", "domain"))
	if id := r.take(16, "unique id"); id != nil {
		copy(m.UniqueID[:], id)
	}
	m.Payload = nilIfEmpty(r.bytesField("payload length", "payload"))
	if r.err != nil {
		return Member{}, 0, r.err
	}
	if r.off != len(r.b) {
		return Member{}, 0, fmt.Errorf("%w: %d unexplained bytes before TRIBES-E", ErrBadMember, len(r.b)-r.off)
	}
	return m, total, nil
}

func cloneOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
