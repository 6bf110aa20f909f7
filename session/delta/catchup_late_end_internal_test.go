package delta

import (
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// TestAskBackAtTheWindowsEndIsNotLost: a member back's request (AskBack) reaching a joiner
// as its window ends. The late catch-up, seeing the window over, hands the members back
// still to ask to the running node (backDue) and stops; askBack read the time before it
// took the late catch-up's lock, so one whose time was read just before the window's end
// but that got the lock after backDue put the member in the late catch-up's list anyway
// and said it would ask it: no one asked it. askBack now reads the time under the lock,
// and once backDue ran returns false, its caller (queueBack) asking the member as a
// running node. The test calls backDue first, as that interleaving does.
func TestAskBackAtTheWindowsEndIsNotLost(t *testing.T) {
	nw, _ := startLone(t, Config{})
	_, ch := nw.StartChannel(t)
	k := ch.LocalMember().Key()
	now := time.Now()
	l := &lateCatchUp{start: now, until: now.Add(time.Hour), wake: make(chan struct{}, 1),
		done: map[channel.MemberKey]time.Time{}, gone: map[channel.MemberKey]bool{},
		due: map[channel.MemberKey]time.Time{}, back: map[channel.MemberKey]bool{}}
	if ks := l.backDue(); len(ks) != 0 { // the window's end (runLate)
		t.Fatalf("backDue returned %d members, want none", len(ks))
	}
	if l.askBack(k) {
		t.Error("askBack after the window's end was handled said the late catch-up asks the member")
	}
	l.added(k)
	if _, due := l.snapshot()[k]; due {
		t.Error("a member back was left to a late catch-up whose window's end was handled")
	}
}
