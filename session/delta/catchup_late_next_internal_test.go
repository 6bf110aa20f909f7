package delta

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/gotribes/tribes/channel"
)

// viewHook is a Channel whose Member reports the member not listed and, the first time,
// runs readBack first: the membership adding it again right after next read the view.
type viewHook struct {
	Channel
	mem      channel.Member
	listed   bool
	readBack func()
}

func (v *viewHook) Member(k channel.MemberKey) (channel.Member, bool) {
	if f := v.readBack; f != nil {
		v.readBack = nil
		f()
		return channel.Member{}, false // read before the addition
	}
	if v.listed && k == v.mem.Key() {
		return v.mem, true
	}
	return channel.Member{}, false
}

// TestLateNextKeepsAMemberAddedAgainMeanwhile: a member due (it refused a second ago),
// out of the view and added again right after next read the view, was forgotten by next:
// added leaves a due time already passed as it is, so next's check that it was not added
// again meanwhile (the due time unchanged) passed. The member, listed again, was then
// asked neither in the window nor after it (backDue: it was no longer due), which
// TestLateCatchUpAsksAFlappingMemberOnceASecond caught once under load ("refused 0
// requests after the window"). next now keeps it, and asks it at its next call.
func TestLateNextKeepsAMemberAddedAgainMeanwhile(t *testing.T) {
	synctest.Test(t, testLateNextKeepsAMemberAddedAgainMeanwhile)
}

// testLateNextKeepsAMemberAddedAgainMeanwhile runs in a bubble: the addition comes at
// the very time the member fell due, as a heal and the member's due time did on the
// whole second in the flapping test.
func testLateNextKeepsAMemberAddedAgainMeanwhile(t *testing.T) {
	now := time.Now()
	mem := channel.Member{Host: []byte{127, 0, 0, 1}, Port: 4002, UniqueID: channel.UniqueID{7}}
	k := mem.Key()
	l := &lateCatchUp{start: now.Add(-5 * time.Second), until: now.Add(5 * time.Second), wake: make(chan struct{}, 1),
		done: map[channel.MemberKey]time.Time{}, gone: map[channel.MemberKey]bool{},
		due: map[channel.MemberKey]time.Time{}, back: map[channel.MemberKey]bool{}, reply: map[channel.MemberKey]bool{}}
	l.due[k] = now // refused a second ago: due now
	l.removed(k)   // left the view (a partition)
	ch := &viewHook{mem: mem}
	ch.readBack = func() { // healed: listed again, and the listener's added
		ch.listed = true
		l.added(k)
	}
	if _, _, ok := l.next(ch); ok {
		t.Fatal("next returned a member it read out of the view")
	}
	l.mu.Lock()
	_, due := l.due[k]
	back := l.back[k]
	l.mu.Unlock()
	if !due || !back {
		t.Fatalf("the member added again meanwhile: due %v, back %v; want it still to ask, as one back", due, back)
	}
	got, _, ok := l.next(ch)
	if !ok || got.Key() != k {
		t.Errorf("next after the addition: %v %v, want the member to ask now", got, ok)
	}
	if ks := l.backDue(); len(ks) != 1 || ks[0] != k {
		t.Errorf("at the window's end the members back still to ask are %v, want it", ks)
	}
}
