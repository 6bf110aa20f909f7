package wire

import (
	"bytes"
	"net"
	"testing"
)

// TestMemberUnmapped: an IPv4 host in its 16-byte form becomes its 4-byte form (a copy),
// so the member has the key of the same node read off the wire; other hosts are kept.
func TestMemberUnmapped(t *testing.T) {
	id := UniqueID{1, 2, 3}
	wired := Member{Host: []byte{127, 0, 0, 1}, Port: 4000, UniqueID: id}
	given := Member{Host: net.IPv4(127, 0, 0, 1), Port: 4000, UniqueID: id}
	if given.Key() == wired.Key() {
		t.Fatal("the two forms have one key already: the test shows nothing")
	}
	u := given.Unmapped()
	if u.Key() != wired.Key() || !u.Equal(wired) {
		t.Fatalf("Unmapped host %v, want %v", u.Host, wired.Host)
	}
	if len(given.Host) != net.IPv6len {
		t.Fatal("Unmapped changed its receiver's host")
	}
	u.Host[0] = 10
	if given.Host[12] != 127 {
		t.Fatal("Unmapped's host shares memory with the given one")
	}
	for _, h := range [][]byte{{127, 0, 0, 1}, net.ParseIP("::1"), net.ParseIP("fe80::1"), []byte("a-long-host-name-of-more-bytes")} {
		if got := (Member{Host: h}).Unmapped().Host; !bytes.Equal(got, h) {
			t.Errorf("Unmapped(%v) = %v, want it unchanged", h, got)
		}
	}
}

// TestMemberKeyUnmapped: the key of a member with a 16-byte IPv4 host becomes the key of
// the member with the 4-byte host; other keys are kept.
func TestMemberKeyUnmapped(t *testing.T) {
	id := UniqueID{4, 5, 6}
	wired := Member{Host: []byte{10, 0, 0, 7}, Port: 4001, UniqueID: id}
	given := Member{Host: net.IPv4(10, 0, 0, 7), Port: 4001, UniqueID: id}
	if got := given.Key().Unmapped(); got != wired.Key() || got != given.Unmapped().Key() {
		t.Errorf("the 16-byte form's key unmapped is not the 4-byte form's key")
	}
	for _, h := range [][]byte{{10, 0, 0, 7}, net.ParseIP("::1"), net.ParseIP("fe80::1"), []byte("a-long-host-name-of-more-bytes")} {
		if k := (Member{Host: h, Port: 1}).Key(); k.Unmapped() != k {
			t.Errorf("Unmapped changed the key of host %v", h)
		}
	}
}
