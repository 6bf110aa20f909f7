package mcast

import (
	"testing"
	"time"
)

// TestTableClockStepBackIsNoRestart: a Java node's alive time is its wall clock less its
// start (Tribes' McastService: currentTimeMillis() - serviceStartTime), so when its clock
// steps back the alive time its heartbeats carry drops by as much. A drop larger than a
// reordered heartbeat explains is a restart only if the new alive time fits in the
// silence since the member's previous heartbeat (a process restarted after it sent that
// one); otherwise it is the same run, whose start estimate is kept. Before, any drop
// larger than Frequency was taken for a restart: a Java node whose clock stepped back
// looked as young as its clock now said and fell behind younger members in the
// oldest-first order, which picks the coordinator and whom a starting session manager
// asks for its state.
func TestTableClockStepBackIsNoRestart(t *testing.T) {
	tb := newTable(3*time.Second, false, DefaultMaxMembers, DefaultFrequency)
	tb.heartbeat(t0, testMember(2, 60000)) // up 60 s
	tb.heartbeat(t0, testMember(3, 30000)) // up 30 s

	// 500 ms later, member 2's clock has stepped back 40 s.
	at := t0.Add(500 * time.Millisecond)
	tb.heartbeat(at, testMember(2, 60500-40000))
	tb.heartbeat(at, testMember(3, 30500))
	if got := ports(tb.members(at)); !equal(got, []int32{2, 3}) {
		t.Errorf("order after member 2's clock stepped back %v, want [2 3]: it did not restart", got)
	}
	if m, _ := tb.member(at, testMember(2, 0).Key()); m.AliveTime != 60500 {
		t.Errorf("member 2 alive %d ms after its clock stepped back, want 60500", m.AliveTime)
	}

	// Then back by more than it has been up: a negative alive time, which no new run has.
	at = at.Add(500 * time.Millisecond)
	tb.heartbeat(at, testMember(2, 20500+500-100000))
	if got := ports(tb.members(at)); !equal(got, []int32{2, 3}) {
		t.Errorf("order after a negative alive time %v, want [2 3]", got)
	}
	if m, _ := tb.member(at, testMember(2, 0).Key()); m.AliveTime != 61000 {
		t.Errorf("member 2 alive %d ms after a negative alive time, want 61000", m.AliveTime)
	}

	// A restart is still one: its new run is younger than the silence since the last
	// heartbeat of the previous one.
	at = at.Add(2 * time.Second)
	tb.heartbeat(at, testMember(2, 1500))
	if got := ports(tb.members(at)); !equal(got, []int32{3, 2}) {
		t.Errorf("order after member 2 restarted %v, want [3 2]", got)
	}
	if m, _ := tb.member(at, testMember(2, 0).Key()); m.AliveTime != 1500 {
		t.Errorf("member 2 alive %d ms after its restart, want 1500", m.AliveTime)
	}
}
