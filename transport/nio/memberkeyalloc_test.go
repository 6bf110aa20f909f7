package nio

import (
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// A stranger's header that arrives in pieces is read again on every read (headOf, from
// strangerHeld and classify): memberKeyOf copied the sender's host, command and domain
// each time, and the member it built and the complete header's variable escaped to the
// sender check: 5 allocations per read a stranger could make the receiver do. The
// identity is now read into a member the decoder reuses, the command and domain only
// checked: none, once the first read made it.
func TestPartialHeaderReadAllocatesNothing(t *testing.T) {
	m := channel.Member{Host: []byte{10, 0, 0, 1}, Port: 4000, SecurePort: -1, UDPPort: -1,
		Command: []byte("cmd"), Domain: []byte("domain"), Payload: pattern(300), UniqueID: channel.UniqueID{1, 2, 3}}
	src, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	f := frame(src, 0, []byte("x"))
	partial := f[:len(f)-len(m.Payload)] // the identity, not the payload
	var asked channel.MemberKey
	d := decoder{isMember: func(src *channel.Member) bool { asked = src.Key(); return false }}
	if got := d.headOf(partial); got != headIncomplete || asked != m.Key() {
		t.Fatalf("headOf: %v, the check asked about %v: want headIncomplete, asked about %v", got, asked, m.Key())
	}
	if n := testing.AllocsPerRun(100, func() { d.headOf(partial) }); n != 0 {
		t.Fatalf("reading a stranger's partial header (%d bytes) allocated %.0f times per call, want 0", len(partial), n)
	}
	d.isMember = func(src *channel.Member) bool { return src.Key() == m.Key() }
	if got := d.headOf(partial); got != headMember {
		t.Fatalf("headOf a member's partial header: %v, want headMember", got)
	}
	if n := testing.AllocsPerRun(100, func() { d.headOf(partial[:len(partial)-wire.FrameHeaderLen]) }); n != 0 {
		t.Fatalf("reading a header not yet naming its sender allocated %.0f times per call, want 0", n)
	}
}
