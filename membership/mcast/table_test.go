package mcast

import (
	"bytes"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

func testMember(port int32, alive int64) channel.Member {
	m := channel.Member{Host: []byte{127, 0, 0, 1}, Port: port, SecurePort: -1, UDPPort: -1, AliveTime: alive}
	m.UniqueID[0] = byte(port)
	m.UniqueID[15] = byte(port >> 8)
	return m
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ports(ms []channel.Member) []int32 {
	var out []int32
	for _, m := range ms {
		out = append(out, m.Port)
	}
	return out
}

func TestTableAddRefreshExpire(t *testing.T) {
	tb := newTable(3*time.Second, false, DefaultMaxMembers, DefaultFrequency)
	tb.setLocal(testMember(1, 0).Key())
	if c, _ := tb.heartbeat(t0, testMember(1, 5)); c != unchanged {
		t.Fatalf("own packet: %v", c)
	}
	if c, m := tb.heartbeat(t0, testMember(2, 100)); c != added || m.Port != 2 {
		t.Fatalf("new member: %v %v", c, m)
	}
	if c, _ := tb.heartbeat(t0.Add(500*time.Millisecond), testMember(2, 600)); c != refreshed {
		t.Fatalf("known member: %v", c)
	}
	// nextExpiry may be early (a bound kept without looking at every member), never
	// late; a check at that time finds the exact one.
	due := t0.Add(3501 * time.Millisecond)
	if n := tb.nextExpiry(); n.After(due) {
		t.Fatalf("next expiry %v, after the member's", n.Sub(t0))
	} else if n.Before(due) {
		if gone := tb.expire(n); len(gone) != 0 {
			t.Fatalf("expired too early: %v", gone)
		}
	}
	if n := tb.nextExpiry(); !n.Equal(due) {
		t.Fatalf("next expiry %v", n.Sub(t0))
	}
	if gone := tb.expire(t0.Add(3500 * time.Millisecond)); len(gone) != 0 {
		t.Fatalf("expired too early: %v", gone)
	}
	gone := tb.expire(t0.Add(3501 * time.Millisecond))
	if len(gone) != 1 || gone[0].Port != 2 {
		t.Fatalf("expired %v", gone)
	}
	if tb.len() != 0 || !tb.nextExpiry().IsZero() {
		t.Fatal("table not empty")
	}
}

func TestTableUpdatesPayloadNotDomain(t *testing.T) {
	tb := newTable(3*time.Second, false, DefaultMaxMembers, DefaultFrequency)
	m := testMember(2, 100)
	m.Domain, m.Payload = []byte("d1"), []byte{1}
	tb.heartbeat(t0, m)
	m2 := m.Clone()
	m2.AliveTime, m2.Domain, m2.Payload = 600, []byte("d2"), []byte{2}
	tb.heartbeat(t0.Add(500*time.Millisecond), m2)
	got, ok := tb.member(t0.Add(500*time.Millisecond), m.Key())
	if !ok || string(got.Domain) != "d1" || !bytes.Equal(got.Payload, []byte{2}) {
		t.Fatalf("after refresh: domain %q payload %x", got.Domain, got.Payload)
	}
	if got.AliveTime != 600 {
		t.Fatalf("alive %d", got.AliveTime)
	}
	// Same alive time: nothing but the last-heard time changes (Tribes compares alive times).
	m3 := m2.Clone()
	m3.Payload = []byte{3}
	tb.heartbeat(t0.Add(600*time.Millisecond), m3)
	if got, _ := tb.member(t0.Add(600*time.Millisecond), m.Key()); !bytes.Equal(got.Payload, []byte{2}) {
		t.Fatalf("payload changed without a new alive time: %x", got.Payload)
	}
}

func TestTableShutdown(t *testing.T) {
	tb := newTable(3*time.Second, false, DefaultMaxMembers, DefaultFrequency)
	tb.heartbeat(t0, testMember(2, 100))
	bye := testMember(2, 200)
	bye.Command = wire.ShutdownCommand
	c, m := tb.heartbeat(t0.Add(time.Millisecond), bye)
	if c != removed || !m.IsShutdown() {
		t.Fatalf("shutdown: %v %v", c, m)
	}
	// A shutdown packet of an unknown member (or a repeated one) changes nothing.
	if c, _ := tb.heartbeat(t0.Add(2*time.Millisecond), bye); c != unchanged {
		t.Fatalf("repeated shutdown: %v", c)
	}
}

func TestTableOrderOldestFirst(t *testing.T) {
	tb := newTable(3*time.Second, false, DefaultMaxMembers, DefaultFrequency)
	// Heard at the same moment; alive times say 4 started first, then 2, then 3.
	tb.heartbeat(t0, testMember(2, 2000))
	tb.heartbeat(t0, testMember(3, 10))
	tb.heartbeat(t0, testMember(4, 9000))
	got := ports(tb.members(t0.Add(time.Second)))
	if want := []int32{4, 2, 3}; !equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	ms := tb.members(t0.Add(time.Second))
	if ms[0].AliveTime != 10000 || ms[2].AliveTime != 1010 {
		t.Fatalf("alive times not current: %d %d", ms[0].AliveTime, ms[2].AliveTime)
	}
	// A late heartbeat (network delay) does not make a member look younger.
	tb.heartbeat(t0.Add(900*time.Millisecond), testMember(4, 9100))
	if got := ports(tb.members(t0.Add(time.Second))); !equal(got, []int32{4, 2, 3}) {
		t.Fatalf("order after delayed heartbeat %v", got)
	}
}

func TestTableStallGuard(t *testing.T) {
	for _, guard := range []bool{true, false} {
		tb := newTable(3*time.Second, guard, DefaultMaxMembers, DefaultFrequency)
		for p := int32(2); p <= 4; p++ {
			tb.heartbeat(t0, testMember(p, 100))
		}
		tb.expire(t0.Add(400 * time.Millisecond))
		// The local process is paused for 10 s. When it resumes it reads the first queued
		// heartbeat and checks expiry before reading the others.
		resume := t0.Add(10 * time.Second)
		tb.heartbeat(resume, testMember(2, 10100))
		gone := tb.expire(resume)
		if guard {
			if len(gone) != 0 || tb.stalls != 1 {
				t.Fatalf("guard on: expired %v after a local pause (stalls %d)", ports(gone), tb.stalls)
			}
			// Members still silent after the pause expire as usual: their 400 ms of silence
			// before the pause count, the pause does not.
			for _, d := range []time.Duration{time.Second, 2 * time.Second, 2600 * time.Millisecond} {
				if g := tb.expire(resume.Add(d)); len(g) != 0 {
					t.Fatalf("expired %v at resume+%v", ports(g), d)
				}
			}
			if g := tb.expire(resume.Add(2601 * time.Millisecond)); !equal(ports(g), []int32{3, 4}) {
				t.Fatalf("expired %v, want [3 4]", ports(g))
			}
		} else if !equal(ports(gone), []int32{3, 4}) {
			t.Fatalf("guard off (Tomcat): expired %v, want [3 4]", ports(gone))
		}
	}
}

func TestTableClear(t *testing.T) {
	tb := newTable(3*time.Second, true, DefaultMaxMembers, DefaultFrequency)
	tb.heartbeat(t0, testMember(2, 100))
	tb.heartbeat(t0, testMember(3, 200))
	if got := ports(tb.clear()); !equal(got, []int32{3, 2}) || tb.len() != 0 {
		t.Fatalf("clear %v", got)
	}
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A member's alive time that drops by more than the tolerance (one heartbeat period) is
// the member restarted with the same id: its start estimate becomes the new run's. A
// smaller drop (a reordered heartbeat) does not make it look younger.
func TestTableRestartTakesNewAliveTime(t *testing.T) {
	tb := newTable(3*time.Second, false, DefaultMaxMembers, DefaultFrequency)
	tb.heartbeat(t0, testMember(2, 10000))
	tb.heartbeat(t0, testMember(3, 5000))
	// A heartbeat sent 400 ms before the last one, arriving after it.
	tb.heartbeat(t0.Add(100*time.Millisecond), testMember(2, 9600))
	if m, _ := tb.member(t0.Add(time.Second), testMember(2, 0).Key()); m.AliveTime != 11000 {
		t.Fatalf("after a reordered heartbeat: alive %d, want 11000", m.AliveTime)
	}
	// Restarted: its alive time went down by 9.4 s.
	tb.heartbeat(t0.Add(200*time.Millisecond), testMember(2, 200))
	if m, _ := tb.member(t0.Add(time.Second), testMember(2, 0).Key()); m.AliveTime != 1000 {
		t.Fatalf("after a restart: alive %d, want 1000", m.AliveTime)
	}
	if got := ports(tb.members(t0.Add(time.Second))); !equal(got, []int32{3, 2}) {
		t.Fatalf("order after the restart %v, want [3 2]", got)
	}
}
