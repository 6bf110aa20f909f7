package interceptors

import (
	"testing"
)

// The staticmember interceptor's members property takes Tomcat's {..} ids, whose commas
// the spec's split (at the top level only) and wire.ParseMemberList keep inside the id.
func TestStaticMemberSpecTakesTomcatIDs(t *testing.T) {
	ics, err := Build("staticmember(members=127.0.0.1:4000:{-64,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25},"+
		"127.0.0.1:4001:{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,-1}),ping", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ics) != 2 {
		t.Fatalf("%d interceptors, want 2", len(ics))
	}
	ms := ics[0].(*StaticMembership).StaticMembers()
	if len(ms) != 2 {
		t.Fatalf("members %v, want 2", ms)
	}
	want := map[int32]byte{4000: 0xc0, 4001: 0} // the first byte of each id
	last := map[int32]byte{4000: 25, 4001: 0xff}
	for _, m := range ms {
		if m.UniqueID[0] != want[m.Port] || m.UniqueID[15] != last[m.Port] {
			t.Fatalf("member %d has id %x", m.Port, m.UniqueID)
		}
	}
}
