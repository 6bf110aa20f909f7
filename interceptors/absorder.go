package interceptors

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/gotribes/tribes/channel"
)

// CompareAbsolute orders members as Tribes' AbsoluteOrder does (Tomcat 10.1.56+, 11.0.23+, 9.0.119+):
// by host address, a shorter address (IPv4) first and equal lengths compared byte by byte
// as unsigned numbers; then by port; then by unique id, byte by byte, unsigned. It returns
// -1, 0 or +1; the first member in this order is the coordinator of the coordinators.
//
// Earlier Tomcat releases compared the bytes as signed Java bytes (so 192.168.x.x came
// before 10.x.x.x); nodes of such versions will not agree with this order.
func CompareAbsolute(a, b channel.Member) int {
	if c := cmp.Compare(len(a.Host), len(b.Host)); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Host, b.Host); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	return bytes.Compare(a.UniqueID[:], b.UniqueID[:])
}

// SortAbsolute sorts members in place by CompareAbsolute.
func SortAbsolute(ms []channel.Member) { slices.SortFunc(ms, CompareAbsolute) }

// sameMembers reports whether a and b hold the same members (by identity), in any order.
func sameMembers(a, b []channel.Member) bool {
	if len(a) != len(b) {
		return false
	}
	set := make(map[channel.MemberKey]int, len(a))
	for _, m := range a {
		set[m.Key()]++
	}
	for _, m := range b {
		k := m.Key()
		if set[k] == 0 {
			return false
		}
		set[k]--
	}
	return true
}

// viewOf returns local plus members, without duplicates, in absolute order.
func viewOf(local channel.Member, members ...[]channel.Member) []channel.Member {
	seen := map[channel.MemberKey]bool{local.Key(): true}
	out := []channel.Member{local}
	for _, list := range members {
		for _, m := range list {
			if !seen[m.Key()] {
				seen[m.Key()] = true
				out = append(out, m)
			}
		}
	}
	SortAbsolute(out)
	return out
}
