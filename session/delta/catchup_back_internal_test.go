package delta

import (
	"testing"

	"github.com/gotribes/tribes/channel"
)

// The members a running manager remembers as gone (to ask once they are back) are
// bounded by maxBack, the ones that left first forgotten: a member that left for good,
// and one under a new key each run, would otherwise be kept for ever.
func TestMembersGoneBounded(t *testing.T) {
	_, m := startLone(t, Config{})
	keys := make([]channel.MemberKey, 2*maxBack)
	for i := range keys {
		keys[i] = channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(1000 + i)}.Key()
		m.memberLeft(keys[i])
	}
	m.back.mu.Lock()
	n := len(m.back.left)
	_, last := m.back.left[keys[len(keys)-1]]
	_, first := m.back.left[keys[0]]
	m.back.mu.Unlock()
	if n != maxBack {
		t.Errorf("%d members remembered as gone, want maxBack (%d)", n, maxBack)
	}
	if !last || first {
		t.Errorf("the member that left last is remembered: %v, the first: %v; want true, false", last, first)
	}
}
