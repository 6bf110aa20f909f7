package nio

import (
	"encoding/binary"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// FuzzMemberKeyOf holds memberKeyOf, a parser of the start of an untrusted frame's header,
// to wire's decoding of the whole header (parseHead, wire.ParseChannelData): it never
// panics, it names a member only from bytes that a header wire accepts can start with (its
// identity completed by a payload of the length its own lengths leave, the end marker and
// an empty message parses, naming the same member), and for a whole header wire accepts it
// names the member wire reads.
func FuzzMemberKeyOf(f *testing.F) {
	for _, m := range []channel.Member{
		{Host: []byte{10, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1},
		{Host: make([]byte, 16), Port: 1, Command: []byte("c"), Domain: []byte("dom"), Payload: pattern(300),
			UniqueID: channel.UniqueID{1, 2, 3}},
	} {
		src, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		body := frame(src, 0, []byte("x"))[wire.FrameHeaderLen:]
		f.Add(body)
		f.Add(body[:len(body)-len(m.Payload)])
		short := append([]byte(nil), body...) // a member body length that leaves no room for the identity
		binary.BigEndian.PutUint32(short[12+4+16+4+10:], 49)
		f.Add(short)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m channel.Member
		ok := memberKeyOf(b, &m)
		if head, complete, err := parseHead(b, nil); complete && err == nil {
			if !ok || m.Key() != head.Address.Key() {
				t.Fatalf("a header wire reads as from %v named %v (ok %v)", head.Address, m, ok)
			}
		}
		if !ok {
			return
		}
		idLen := int(binary.BigEndian.Uint32(b[12:]))
		start := 12 + 4 + idLen + 4 // the member's bytes
		addrLen := int(int32(binary.BigEndian.Uint32(b[start-4:])))
		bodyLen := int(int32(binary.BigEndian.Uint32(b[start+10:])))
		end := start + 14 + 8 + 12 + 1 + len(m.Host) // the command and the domain next
		for range 2 {
			end += 4 + int(binary.BigEndian.Uint32(b[end:]))
		}
		end += 16 // the unique id
		payload := start + 14 + bodyLen - end - 4
		if addrLen > wire.MaxMemberSize || payload < 0 || payload > wire.MaxMemberSize {
			t.Fatalf("named %v from a member of %d bytes, body %d, its identity ending at %d: no header completes it", m, addrLen, bodyLen, end-start)
		}
		whole := append([]byte(nil), b[:end]...)
		whole = binary.BigEndian.AppendUint32(whole, uint32(payload))
		whole = append(whole, make([]byte, payload)...)
		whole = append(whole, "TRIBES-E\x01\x00"...)
		whole = binary.BigEndian.AppendUint32(whole, 0) // the message's length
		head, complete, err := parseHead(whole, nil)
		if !complete || err != nil || head.Address.Key() != m.Key() {
			t.Fatalf("named %v from the start of a header wire does not accept however it ends (complete %v, %v)", m, complete, err)
		}
	})
}
