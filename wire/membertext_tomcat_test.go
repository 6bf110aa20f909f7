package wire

import (
	"errors"
	"strings"
	"testing"
)

// A Tomcat user has every member's id as server.xml writes it, "{-64,11,...}", whose
// commas are the list's separator: a member list takes that form beside hex, a comma inside
// the braces belonging to the id, so that the ids can be copied from server.xml as they are.
// Unbalanced braces are refused with ErrBadMemberText.
func TestParseMemberListTomcatIDs(t *testing.T) {
	list, err := ParseMemberList("127.0.0.1:4102:{-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11}, " +
		"[::1]:4103:{-64, 12,12,12,12,12,12,12,12,12,12,12,12,12,12,12},127.0.0.1:4104:c00d0d0d0d0d0d0d0d0d0d0d0d0d0d0d,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"c00b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "c00c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "c00d0d0d0d0d0d0d0d0d0d0d0d0d0d0d"}
	if len(list) != len(want) {
		t.Fatalf("%d members, want %d: %v", len(list), len(want), list)
	}
	for i, m := range list {
		if m.UniqueID.String() != want[i] || m.Port != int32(4102+i) {
			t.Errorf("member %d: %s id %s, want port %d id %s", i, m.Addr(), m.UniqueID, 4102+i, want[i])
		}
	}
	m, err := ParseMemberText("127.0.0.1:4102:{-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11}")
	if err != nil || m.UniqueID.String() != want[0] {
		t.Fatalf("ParseMemberText: %s, %v", m.UniqueID, err)
	}
	for _, bad := range []string{
		"127.0.0.1:4102:{-64,11,11}",                                          // 3 bytes
		"127.0.0.1:4102:{-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11",    // no closing brace
		"127.0.0.1:4102:-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11}",    // no opening brace
		"127.0.0.1:4102:{{-64,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11}}", // nested
		"127.0.0.1:4102:{128,11,11,11,11,11,11,11,11,11,11,11,11,11,11,11}",   // out of range
	} {
		if _, err := ParseMemberList(bad); !errors.Is(err, ErrBadMemberText) || !strings.Contains(err.Error(), "{") {
			t.Errorf("ParseMemberList(%q): %v, want ErrBadMemberText", bad, err)
		}
	}
}
