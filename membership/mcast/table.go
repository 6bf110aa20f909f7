package mcast

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	"github.com/gotribes/tribes/channel"
)

// table is the member list of a multicast membership: pure logic, driven by the receive
// loop with explicit times so that it can be tested without sockets or real clocks. It is
// not safe for concurrent use; Service guards it with its mutex.
type table struct {
	dropTime   time.Duration
	stallGuard time.Duration // 0 = off
	maxMembers int
	restartTol time.Duration // a drop in alive time larger than this is a restart
	local      channel.MemberKey
	entries    map[channel.MemberKey]*entry
	lastCheck  time.Time // when expire last ran; zero before the first run
	stalls     int       // how many times the stall guard forgave a local pause
	// due is a lower bound of when the next member can expire (the earliest heard +
	// dropTime; zero when the table is empty): expire and nextExpiry look at every entry
	// only once it has passed, not for every datagram, so that what a datagram costs does
	// not grow with the members kept (a stranger can fill the table, then flood it).
	due time.Time
	// scanned counts the entries looked at by expiry scans (tests measure the cost).
	scanned int
	// order is the entries oldest first (sortEntries), kept between calls of members,
	// which the channel makes for every message sent to all members; nil once an entry
	// is added or removed or a start estimate (born) changes, and rebuilt by the next
	// call. A payload or alive time update leaves it: members reads each entry's member
	// and computes its alive time at every call.
	order []*entry
}

type entry struct {
	m     channel.Member
	heard time.Time // last heartbeat (or other datagram) from the member
	beat  time.Time // last heartbeat, as received (the stall guard does not move it)
	// born is the member's estimated start on our clock (heard - its alive time), the key
	// of the oldest-first order. Network delay only makes an estimate later, so the
	// earliest estimate of all heartbeats is kept, until the member restarts (see
	// heartbeat): then it is its new run's estimate.
	born time.Time
}

// change is what a packet did to the table.
type change uint8

const (
	unchanged change = iota
	added
	refreshed
	removed
	full // a new member, not added: the table holds maxMembers
)

// newTable returns an empty table. restartTol is how far a member's alive time may drop
// (a reordered heartbeat) before it counts as a restart: about one heartbeat period.
func newTable(dropTime time.Duration, stallGuard bool, maxMembers int, restartTol time.Duration) *table {
	t := &table{dropTime: dropTime, maxMembers: maxMembers, restartTol: restartTol, entries: map[channel.MemberKey]*entry{}}
	if stallGuard {
		t.stallGuard = dropTime / 2
	}
	return t
}

// setLocal tells the table which member is this node; its packets are ignored.
func (t *table) setLocal(k channel.MemberKey) { t.local = k }

// heartbeat applies a member packet received at now. It returns what changed and, for
// added and removed, the member to announce. m may alias a datagram's buffer: the table
// keeps copies.
func (t *table) heartbeat(now time.Time, m channel.Member) (change, channel.Member) {
	k := m.Key()
	if k == t.local {
		return unchanged, channel.Member{}
	}
	e := t.entries[k]
	if m.IsShutdown() {
		if e == nil {
			return unchanged, channel.Member{}
		}
		delete(t.entries, k)
		t.order = nil
		// Announce the member with the shutdown command, as Tribes does, so that listeners
		// (and the TCP failure detector) know it left on purpose.
		gone := e.m
		gone.Command = bytes.Clone(m.Command)
		return removed, gone
	}
	born := now.Add(-time.Duration(m.AliveTime) * time.Millisecond)
	if e == nil {
		if len(t.entries) >= t.maxMembers {
			return full, channel.Member{}
		}
		m = m.Clone()
		t.entries[k] = &entry{m: m, heard: now, beat: now, born: born}
		t.order = nil
		t.heardAt(now)
		return added, m
	}
	prevBeat := e.beat
	e.heard, e.beat = now, now
	t.heardAt(now)
	if m.AliveTime != e.m.AliveTime {
		// Tribes updates alive time, payload and command of a known member, never its domain.
		// An alive time lower than the one the start estimate gives by more than
		// restartTol (more than a reordered heartbeat explains) is the member's process
		// restarted with the same id if the new run fits in the silence since the previous
		// heartbeat: like Tomcat, which takes the new alive time, the table takes its new
		// start. A drop that does not fit, or a negative alive time, is the member's wall
		// clock stepping back (a Java node's alive time is currentTimeMillis() less its
		// start): the same run, whose estimate is kept (TestTableClockStepBackIsNoRestart).
		// In milliseconds, as the wire has them: any alive time compares without overflow.
		alive, tol := m.AliveTime, t.restartTol.Milliseconds()
		restarted := alive >= 0 && now.Sub(e.born).Milliseconds()-alive > tol && alive <= now.Sub(prevBeat).Milliseconds()+tol
		dom := e.m.Domain
		m.Domain = nil
		e.m = m.Clone()
		e.m.Domain = dom
		if restarted || born.Before(e.born) {
			e.born = born
			t.order = nil
		}
	}
	return refreshed, channel.Member{}
}

// touch records other traffic (a broadcast message) from a known member.
func (t *table) touch(now time.Time, k channel.MemberKey) {
	if e := t.entries[k]; e != nil && now.After(e.heard) {
		e.heard = now
	}
}

// heardAt keeps due a lower bound after a member was heard at heard: hearing a member
// can only move its expiry later, unless the clock went back.
func (t *table) heardAt(heard time.Time) {
	if at := heard.Add(t.dropTime); t.due.IsZero() || at.Before(t.due) {
		t.due = at
	}
}

// expire removes the members not heard from for longer than dropTime and returns them,
// oldest first. With the stall guard on, a gap since the previous call longer than the
// guard means this node itself was not running (paused process, suspended machine): the
// members' silence during the gap is forgiven rather than counted against them.
func (t *table) expire(now time.Time) []channel.Member {
	if t.stallGuard > 0 && !t.lastCheck.IsZero() {
		if gap := now.Sub(t.lastCheck); gap > t.stallGuard {
			t.stalls++
			for _, e := range t.entries {
				if e.heard.Before(t.lastCheck) {
					e.heard = e.heard.Add(gap)
				} else if e.heard.Before(now) {
					e.heard = now
				}
			}
		}
	}
	if now.After(t.lastCheck) {
		t.lastCheck = now
	}
	if t.due.IsZero() || !now.After(t.due) {
		return nil // nobody can have been silent for longer than dropTime yet
	}
	var gone []*entry
	t.due = time.Time{}
	for k, e := range t.entries {
		t.scanned++
		if now.Sub(e.heard) > t.dropTime {
			gone = append(gone, e)
			delete(t.entries, k)
			t.order = nil
		} else {
			t.heardAt(e.heard)
		}
	}
	sortEntries(gone)
	out := make([]channel.Member, len(gone))
	for i, e := range gone {
		out[i] = e.m
	}
	return out
}

// nextExpiry is when expire should run next: when the next member may expire if
// nothing is heard (at the latest); zero if there is no member.
func (t *table) nextExpiry() time.Time {
	if t.due.IsZero() {
		return time.Time{}
	}
	return t.due.Add(time.Millisecond)
}

// members returns the members oldest first, each with its alive time as of now, in a
// new slice the caller may modify. The order is sorted again only after the membership
// changed (t.order): each call allocates the returned slice only
// (BenchmarkTableMembers, TestTableMembersFollowChanges).
func (t *table) members(now time.Time) []channel.Member {
	if t.order == nil && len(t.entries) > 0 {
		t.order = make([]*entry, 0, len(t.entries))
		for _, e := range t.entries {
			t.order = append(t.order, e)
		}
		sortEntries(t.order)
	}
	if len(t.order) == 0 {
		return []channel.Member{}
	}
	out := make([]channel.Member, len(t.order))
	for i, e := range t.order {
		out[i] = e.m
		out[i].AliveTime = max(0, now.Sub(e.born).Milliseconds())
	}
	return out
}

func (t *table) member(now time.Time, k channel.MemberKey) (channel.Member, bool) {
	e := t.entries[k]
	if e == nil {
		return channel.Member{}, false
	}
	m := e.m
	m.AliveTime = max(0, now.Sub(e.born).Milliseconds())
	return m, true
}

// clear empties the table and returns what was in it, oldest first.
func (t *table) clear() []channel.Member {
	es := make([]*entry, 0, len(t.entries))
	for _, e := range t.entries {
		es = append(es, e)
	}
	sortEntries(es)
	clear(t.entries)
	t.order = nil
	t.lastCheck, t.due = time.Time{}, time.Time{}
	out := make([]channel.Member, len(es))
	for i, e := range es {
		out[i] = e.m
	}
	return out
}

func (t *table) len() int { return len(t.entries) }

// sortEntries orders oldest (earliest start) first; ties by port, host and id so that the
// order is total.
func sortEntries(es []*entry) {
	slices.SortFunc(es, func(a, b *entry) int {
		return cmp.Or(a.born.Compare(b.born), cmp.Compare(a.m.Port, b.m.Port),
			bytes.Compare(a.m.Host, b.m.Host), bytes.Compare(a.m.UniqueID[:], b.m.UniqueID[:]))
	})
}
