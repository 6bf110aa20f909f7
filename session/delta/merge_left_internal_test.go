package delta

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMergeTakesTheMembersLeftIDs: a refresh's or a catch-up's answer (AskLeft,
// AskRecentLeft) whose copy is not loaded over the one held (not newer: merged by the
// stamps; or the held copy renamed to its id, a rename this node missed) brings the ids
// binder's renames took the session away from on that member, as a load does, beside
// the copy's own: else a node that missed the rename from R.b to R.c (it held the session
// under R.a) and forgot its record of it would raise nothing on a rename back to R.b.
// Before, only a copy loaded took them.
func TestMergeTakesTheMembersLeftIDs(t *testing.T) {
	for _, late := range []bool{false, true} {
		_, m := startLone(t, Config{})
		ctx := context.Background()
		m.mergeSessions(ctx, []SessionState{{ID: "S.b", Version: 2, MaxInactive: 60, stamped: true},
			{ID: "R.a", Version: 2, MaxInactive: 60, stamped: true}}, false)
		held, renamed := m.st.get("S.b"), m.st.get("R.a")
		if held == nil || renamed == nil {
			t.Fatal("the copies were not added")
		}
		m.mergeSessions(ctx, []SessionState{{ID: "S.b", Version: 2, MaxInactive: 60, stamped: true, left: []string{"S.a"}},
			{ID: "R.c", Version: 2, MaxInactive: 60, stamped: true, left: []string{"R.a", "R.b"}}}, late)
		if !held.heldBefore("S.a") {
			t.Errorf("late %v: the copy merged keeps left ids %q, want the member's S.a", late, leftIDs(held.e().left))
		}
		if m.st.get("R.c") != renamed {
			t.Fatalf("late %v: R.a was not renamed to R.c", late)
		}
		// R.a, which this node's rename for the repair left now, is its newest.
		if got := leftIDs(renamed.e().left); !slices.Equal(got, []string{"R.b", "R.a"}) {
			t.Errorf("late %v: the copy renamed keeps left ids %q, want [R.b R.a]", late, got)
		}
	}
}

// timedLeft returns ids ("id@time"; an id without one is timed by its place, from 1),
// oldest first as the caller lists them.
func timedLeft(ids ...string) []leftID {
	left := make([]leftID, 0, len(ids))
	for i, tok := range ids {
		id, at, ok := strings.Cut(tok, "@")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			n = int64(i + 1)
		}
		left = append(left, leftID{id, n})
	}
	return left
}

// seq returns S.<tag><i>@<base+i> for i from..to.
func seq(tag string, from, to int, base int64) (ids []string) {
	for i := from; i <= to; i++ {
		ids = append(ids, fmt.Sprintf("S.%s%d@%d", tag, i, base+int64(i)))
	}
	return ids
}

// TestMergeLeftKeepsTheNewestOfBoth: a member's left ids merged into a copy's (takeLeft,
// or load) keep the newest of both sides by the times the renames carried: a member
// that missed this node's last two renames (its list S.r0-S.r7, this node's S.r2-S.r9)
// does not push S.r8 and S.r9 out, the ids a rename back most likely goes to (before the
// lists were merged by their order alone, and before that the copy kept S.r0-S.r7).
// Where the times tie, the id bytes order them, the same on every node.
func TestMergeLeftKeepsTheNewestOfBoth(t *testing.T) {
	for _, c := range []struct {
		name              string
		own, theirs, want []string
	}{
		{"the member missed this node's last renames", seq("r", 2, 9, 1000), seq("r", 0, 7, 1000), seq("r", 2, 9, 1000)},
		{"this node missed the member's last renames", seq("r", 0, 5, 1000), seq("r", 0, 9, 1000), seq("r", 2, 9, 1000)},
		{"the same", seq("r", 0, 7, 1000), seq("r", 0, 7, 1000), seq("r", 0, 7, 1000)},
		{"the member's only", nil, seq("r", 3, 4, 1000), seq("r", 3, 4, 1000)},
		// Renames on both sides at the same times: the later id bytes first.
		{"apart, times tied", seq("a", 0, 7, 1000), seq("b", 0, 7, 1000),
			[]string{"S.a4@1004", "S.b4@1004", "S.a5@1005", "S.b5@1005", "S.a6@1006", "S.b6@1006", "S.a7@1007", "S.b7@1007"}},
		// This node's S.x and S.y came after all the member's.
		{"this node's last after the member's", append(seq("r", 0, 5, 1000), "S.x@1010", "S.y@1011"), seq("r", 0, 9, 1000),
			append(seq("r", 4, 9, 1000), "S.x@1010", "S.y@1011")},
		// An id renamed away from again (after a rename back) is kept at its later time.
		{"left again", []string{"S.a@1001", "S.b@1002"}, []string{"S.b@1002", "S.a@1003"}, []string{"S.b@1002", "S.a@1003"}},
	} {
		own, theirs, want := timedLeft(c.own...), timedLeft(c.theirs...), timedLeft(c.want...)
		for _, how := range []string{"takeLeft", "load"} {
			s := &Session{id: "S.z", valid: true}
			s.mu.Lock()
			s.x().left = slices.Clone(own)
			s.mu.Unlock()
			if how == "takeLeft" {
				s.takeLeft(leftIDs(theirs), leftTimes(theirs))
			} else {
				s.mu.Lock()
				s.load(&SessionState{ID: "S.z", Version: 2, MaxInactive: 60, left: leftIDs(theirs), leftAt: leftTimes(theirs)})
				s.mu.Unlock()
			}
			if got := s.e().left; !slices.Equal(got, want) {
				t.Errorf("%s, %s: kept %v, want %v", c.name, how, got, want)
			}
		}
	}
}

// TestMergeLeftUntimedCountsOlder: the ids of a member that sends no times (a Go node of
// an earlier version) are timed by their place, below every wall clock: where both fit
// they are all kept, in the member's order after this node's; past the bounds this
// node's timed ids go first.
func TestMergeLeftUntimedCountsOlder(t *testing.T) {
	s := &Session{id: "S.z", valid: true}
	s.noteLeft("S.a", "S.z", 1000)
	s.noteLeft("S.b", "S.z", 1001)
	s.takeLeft([]string{"S.m0", "S.m1"}, nil)
	if got, want := leftIDs(s.e().left), []string{"S.m0", "S.m1", "S.a", "S.b"}; !slices.Equal(got, want) {
		t.Errorf("kept %q, want %q", got, want)
	}
	if got := leftOf([]string{"S.m0", "S.m1"}, nil); !slices.Equal(got, []leftID{{"S.m0", untimedLeft - 1}, {"S.m1", untimedLeft}}) {
		t.Errorf("untimed ids timed %v, want by their place up to %d", got, untimedLeft)
	}
	for i := range maxLeft {
		s.noteLeft("S.r"+strconv.Itoa(i), "S.z", 0) // a clock at 0: each still the newest
	}
	if got := leftIDs(s.e().left); got[0] != "S.r0" || got[maxLeft-1] != "S.r7" {
		t.Errorf("eight renames after: kept %q, want S.r0-S.r7, the last the newest", got)
	}
}

// TestNoteLeftNewestWhateverAMembersTimes: a member's rename (its Timestamp) or list
// (flagLeftAt) may time an id anywhere in int64. Past one at the end of int64, the id
// each later rename here takes the session away from is still recorded as the newest,
// and kept: before, its time stopped at math.MaxInt64, the id bytes ordered it below the
// member's, and with eight such ids held it was dropped at once, a rename back to it
// raising nothing. A member's id timed below 1 still counts newer than the ids of a
// member that sends no times (untimedLeft); before, it went below them.
func TestNoteLeftNewestWhateverAMembersTimes(t *testing.T) {
	pinned := make([]int64, maxLeft)
	for i := range pinned {
		pinned[i] = math.MaxInt64
	}
	for _, c := range []struct {
		name string
		pin  func(s *Session)
	}{
		{"a member's rename", func(s *Session) { s.noteLeft("S.z", "S.y", math.MaxInt64) }},
		{"a member's list", func(s *Session) {
			s.takeLeft([]string{"S.z0", "S.z1", "S.z2", "S.z3", "S.z4", "S.z5", "S.z6", "S.z7"}, pinned)
		}},
	} {
		s := &Session{id: "S.y", valid: true}
		c.pin(s)
		for i := 9; i >= 1; i-- { // ids below the member's in bytes
			id := "S.r" + strconv.Itoa(i)
			s.noteLeft(id, "S.y", 1700000000000)
			if l := s.e().left; len(l) == 0 || l[len(l)-1].id != id {
				t.Fatalf("%s: after the rename away from %s, held %v, that id not the newest", c.name, id, l)
			}
		}
	}
	s := &Session{id: "S.y", valid: true}
	s.takeLeft([]string{"S.n"}, []int64{-5})
	s.takeLeft([]string{"S.m0", "S.m1"}, nil)
	if got, want := leftIDs(s.e().left), []string{"S.m0", "S.m1", "S.n"}; !slices.Equal(got, want) {
		t.Errorf("a member's id timed -5 beside untimed ids: held %q, want %q", got, want)
	}
}

// TestMergeLeftKeepsTheIDRenamedFromPastTheBytes: with routes of about 700 bytes only
// two ids fit maxLeftBytes; merged with a member's two older ones, the id this node's
// binder last renamed the session away from stays, beside the member's newest: a rename
// back to it still raises the version. Before the merge was by the lists' order, the
// member's ids, added after it, pushed it out. maxLeftBytes bounds what a session keeps:
// eight ids fit with routes up to 223 bytes.
func TestMergeLeftKeepsTheIDRenamedFromPastTheBytes(t *testing.T) {
	long := func(route string) string { return "S." + strings.Repeat(route, 700) }
	s := &Session{id: long("z"), valid: true}
	s.noteLeft(long("a"), long("z"), 1003)
	s.takeLeft([]string{long("c"), long("d")}, []int64{1001, 1002})
	if !s.heldBefore(long("a")) || !s.heldBefore(long("d")) || s.heldBefore(long("c")) {
		t.Errorf("kept %d ids (%d bytes), want this node's S.a... and the member's newest S.d...",
			len(s.e().left), leftSize(leftIDs(s.e().left)))
	}
	if leftSize(leftIDs(s.e().left)) > maxLeftBytes {
		t.Errorf("kept %d bytes, past %d", leftSize(leftIDs(s.e().left)), maxLeftBytes)
	}
	// Eight ids of this package (32 hex digits, a dot, the route) fit with routes of 223
	// bytes, seven with routes of 224.
	for route, want := range map[int]int{223: 8, 224: 7} {
		s := &Session{}
		s.mu.Lock()
		for i := range maxLeft {
			s.addLeft("0123456789ABCDEF0123456789ABCDEF."+strings.Repeat("r", route-1)+strconv.Itoa(i), 0)
		}
		s.mu.Unlock()
		if got := len(s.e().left); got != want {
			t.Errorf("routes of %d bytes: %d ids kept, want %d", route, got, want)
		}
	}
}

// TestMergeLeftConverges pins what the merge does where the lists order ids differently
// or not at all: the times, then the id bytes, decide, whichever side merges, so two
// nodes that merged each other's lists hold the same one, and merging either list again
// changes nothing. Before, the merge followed the lists' order, this node's first where
// they did not order two ids: with seven ids of 290 bytes fitting maxLeftBytes, this node
// kept its S.a4 where the member, merging the other way, kept its S.b4.
func TestMergeLeftConverges(t *testing.T) {
	sized := func(n int, ids ...string) (out []string) {
		for _, tok := range ids {
			id, at, _ := strings.Cut(tok, "@")
			out = append(out, id+strings.Repeat("p", n-len(id))+"@"+at)
		}
		return out
	}
	a, b := sized(290, seq("a", 0, 7, 1000)...), sized(290, seq("b", 0, 7, 1000)...)
	for _, c := range []struct {
		name              string
		own, theirs, want []string
	}{
		// A rename back on one side moved S.a after S.b there: the later time wins.
		{"opposite orders", []string{"S.a@1", "S.b@2"}, []string{"S.b@2", "S.a@3"}, []string{"S.b@2", "S.a@3"}},
		{"opposite orders, times tied", []string{"S.a@5", "S.b@5"}, []string{"S.b@5", "S.a@5"}, []string{"S.a@5", "S.b@5"}},
		{"apart past the bytes", a, b, sized(290, "S.b4@1004", "S.a5@1005", "S.b5@1005", "S.a6@1006", "S.b6@1006", "S.a7@1007", "S.b7@1007")},
	} {
		own, theirs, want := timedLeft(c.own...), timedLeft(c.theirs...), timedLeft(c.want...)
		here, there := mergeLeft(own, theirs), mergeLeft(theirs, own)
		if !slices.Equal(here, want) || !slices.Equal(there, want) {
			t.Errorf("%s: kept %.60v here and %.60v on the member, want %.60v", c.name, here, there, want)
		}
		if again := mergeLeft(here, theirs); !slices.Equal(again, here) {
			t.Errorf("%s: merging the member's list again changed %.60v to %.60v", c.name, here, again)
		}
	}
}

// TestMergeLeftRandomPairsConverge: of lists as sessions hold them, with renames on two
// nodes at clocks that tie often and ids of sizes around the bounds, every pair merges
// the same both ways, and merging either list again, or the result with itself, changes
// nothing. With the merge before (by the lists' order, this node's first), 1407 of these
// 5000 pairs kept different ids on the two sides and 2225 changed the ids kept when
// merged again with one of the lists.
func TestMergeLeftRandomPairsConverge(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	list := func() []leftID {
		s := &Session{}
		s.mu.Lock()
		defer s.mu.Unlock()
		for range r.IntN(12) {
			id := fmt.Sprintf("S.%d", r.IntN(14)) + strings.Repeat("p", r.IntN(3)*r.IntN(700))
			s.addLeft(id, int64(r.IntN(10)))
		}
		return slices.Clone(s.e().left)
	}
	for i := range 5000 {
		a, b := list(), list()
		checkConverges(t, fmt.Sprintf("pair %d", i), a, b)
	}
}

// checkConverges fails t unless own and theirs merge the same both ways, the result is
// within the bounds, ordered oldest first, and is what merging either list, or itself,
// into it gives again.
func checkConverges(t *testing.T, name string, own, theirs []leftID) {
	t.Helper()
	m := mergeLeft(own, theirs)
	if o := mergeLeft(theirs, own); !slices.Equal(m, o) {
		t.Fatalf("%s: %v merged with %v: %v here, %v on the member", name, own, theirs, m, o)
	}
	if len(m) > maxLeft || leftSize(leftIDs(m)) > maxLeftBytes {
		t.Fatalf("%s: kept %d ids of %d bytes", name, len(m), leftSize(leftIDs(m)))
	}
	for i := 1; i < len(m); i++ {
		if !newerLeft(m[i], m[i-1]) {
			t.Fatalf("%s: kept %v, not oldest first", name, m)
		}
	}
	for _, x := range [][]leftID{own, theirs, m, nil} {
		if again := mergeLeft(m, x); !slices.Equal(again, m) {
			t.Fatalf("%s: %v merged again with %v: %v", name, m, x, again)
		}
	}
}

// FuzzMergeLeft: whatever two lists a member and this node hold (a member's come from
// the wire, each within MaxStringLen, its times any), the merge keeps at most maxLeft
// ids of at most maxLeftBytes, none twice, none that neither list holds, each at the
// later of its times, oldest first; the same list whichever side merges (commutative);
// merging either list, the result or nothing into the result again changes nothing
// (idempotent), so two nodes that exchanged lists hold the same one and a further
// exchange changes neither (convergent); and it drops no id that fits beside the newer
// ones kept (so each side's newest stays unless the other holds maxLeft newer ids or
// the newer ones leave it no room, and where all fit together none is lost). A list as a
// session holds it (addLeft's) merged with nothing, by nothing, or with itself is that
// list, and each id it recorded was its newest right after, whatever the times before
// (clampLeftAt). An id is "id@time"; one without a time is timed by its place.
func FuzzMergeLeft(f *testing.F) {
	f.Add("S.r2 S.r3 S.r4 S.r5 S.r6 S.r7 S.r8 S.r9", "S.r0 S.r1 S.r2 S.r3 S.r4 S.r5 S.r6 S.r7", 0)
	f.Add("S.a0 S.a1", "S.b0 S.a1 S.b1 S.a0", 700)
	f.Add("", "S.x S.x S.y", 2000)
	f.Add("S.a@5 S.b@5 S.c@-3", "S.b@9 S.a@5 S.d@9223372036854775807", 290)
	f.Add("S.z@9223372036854775807 S.a", "", 0)
	f.Fuzz(func(t *testing.T, own, theirs string, pad int) {
		pad = min(max(pad, 0), 3*maxLeftBytes)
		split := func(s string) (ids []string) {
			for tok := range strings.FieldsSeq(s) {
				id, at, timed := strings.Cut(tok, "@")
				id += strings.Repeat("p", pad*len(id)%(maxLeftBytes+256)) // sizes around the bound
				if timed {
					id += "@" + at
				}
				ids = append(ids, id)
			}
			return ids
		}
		o, th := timedLeft(split(own)...), timedLeft(split(theirs)...)
		got := mergeLeft(o, th)
		checkConverges(t, "merged", o, th)
		latest := map[string]int64{}
		for _, l := range slices.Concat(o, th) {
			if at, ok := latest[l.id]; !ok || l.at > at {
				latest[l.id] = l.at
			}
		}
		seen := map[string]bool{}
		for _, l := range got {
			if seen[l.id] || latest[l.id] != l.at {
				t.Fatalf("kept %q twice, or not at its latest time (%d, want %d)", l.id, l.at, latest[l.id])
			}
			seen[l.id] = true
		}
		// None dropped that fits beside the newer ids kept.
		for id, at := range latest {
			if seen[id] || len(id) > maxLeftBytes {
				continue
			}
			x := leftID{id, at}
			n, size := 0, len(id)
			for _, k := range got {
				if newerLeft(k, x) {
					n++
					size += len(k.id)
				}
			}
			if n < maxLeft && size <= maxLeftBytes {
				t.Fatalf("%v merged with %v: %v, without %v, which fits beside the %d newer", o, th, got, x, n)
			}
		}
		// Two nodes holding lists as sessions hold them converge on one exchange.
		ko, kt := keptOneByOne(t, o), keptOneByOne(t, th)
		checkConverges(t, "as held", ko, kt)
		for _, x := range [][]leftID{ko, kt} {
			if m := mergeLeft(nil, x); !slices.Equal(m, x) {
				t.Fatalf("nothing merged with %v: %v", x, m)
			}
			if m := mergeLeft(x, x); !slices.Equal(m, x) {
				t.Fatalf("%v merged with itself: %v", x, m)
			}
		}
	})
}

// keptOneByOne is what a session keeps of ids recorded one by one (addLeft), each at its
// time or just after the newest held; it fails t unless each id recorded (not longer
// than maxLeftBytes) is the newest held right after, whatever the times held before.
func keptOneByOne(t *testing.T, ids []leftID) []leftID {
	t.Helper()
	s := &Session{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range ids {
		s.addLeft(l.id, l.at)
		if held := s.e().left; len(l.id) <= maxLeftBytes && held[len(held)-1].id != l.id {
			t.Fatalf("recorded %q at %d: held %v, that id not the newest", l.id, l.at, held)
		}
	}
	return slices.Clone(s.e().left)
}
