package delta

import (
	"context"
	"fmt"
	"slices"
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
			t.Errorf("late %v: the copy merged keeps left ids %q, want the member's S.a", late, held.e().left)
		}
		if m.st.get("R.c") != renamed {
			t.Fatalf("late %v: R.a was not renamed to R.c", late)
		}
		if !slices.Equal(renamed.e().left, []string{"R.a", "R.b"}) {
			t.Errorf("late %v: the copy renamed keeps left ids %q, want [R.a R.b]", late, renamed.e().left)
		}
	}
}

// TestMergeLeftKeepsTheNewestOfBoth: a member's left ids merged into a copy's (takeLeft,
// or load) keep the newest of both sides. Before, they were added after this node's, so
// a member that missed this node's last two renames (its list S.r0-S.r7, this node's
// S.r2-S.r9) pushed S.r8 and S.r9 out, the ids a rename back most likely goes to: the
// copy kept S.r0-S.r7.
func TestMergeLeftKeepsTheNewestOfBoth(t *testing.T) {
	r := func(from, to int) (ids []string) {
		for i := from; i <= to; i++ {
			ids = append(ids, fmt.Sprintf("S.r%d", i))
		}
		return ids
	}
	tagged := func(tag string, n int) (ids []string) {
		for i := range n {
			ids = append(ids, fmt.Sprintf("S.%s%d", tag, i))
		}
		return ids
	}
	for _, c := range []struct {
		name              string
		own, theirs, want []string
	}{
		{"the member missed this node's last renames", r(2, 9), r(0, 7), r(2, 9)},
		{"this node missed the member's last renames", r(0, 5), r(0, 9), r(2, 9)},
		{"the same", r(0, 7), r(0, 7), r(0, 7)},
		{"the member's between this node's", r(0, 9)[:0:0], r(3, 4), r(3, 4)},
		// Nothing orders the two sides: their newest alternate, this node's first.
		{"apart", tagged("a", 8), tagged("b", 8),
			[]string{"S.b4", "S.a4", "S.b5", "S.a5", "S.b6", "S.a6", "S.b7", "S.a7"}},
		// S.r5 orders what follows it on either side; after it S.x, S.y here and
		// S.r6-S.r9 there alternate.
		{"anchored", append(r(0, 5), "S.x", "S.y"), r(0, 9), append(r(4, 9), "S.x", "S.y")},
	} {
		for _, how := range []string{"takeLeft", "load"} {
			s := &Session{id: "S.z", valid: true}
			for _, id := range c.own {
				s.noteLeft(id, "S.z")
			}
			if how == "takeLeft" {
				s.takeLeft(c.theirs)
			} else {
				s.mu.Lock()
				s.load(&SessionState{ID: "S.z", Version: 2, MaxInactive: 60, left: c.theirs})
				s.mu.Unlock()
			}
			got := s.e().left
			// Order is the merge's guess where nothing orders the ids: what is kept matters.
			if !sameIDs(got, c.want) {
				t.Errorf("%s, %s: kept %q, want %q", c.name, how, got, c.want)
			}
		}
	}
}

// TestMergeLeftKeepsTheIDRenamedFromPastTheBytes: with routes of about 700 bytes only
// two ids fit maxLeftBytes; merged with a member's two, the id this node's binder last
// renamed the session away from stays, beside the member's newest: a rename back to it
// still raises the version. Before, the member's ids, added after it, pushed it out.
func TestMergeLeftKeepsTheIDRenamedFromPastTheBytes(t *testing.T) {
	long := func(route string) string { return "S." + strings.Repeat(route, 700) }
	s := &Session{id: long("z"), valid: true}
	s.noteLeft(long("a"), long("z"))
	s.takeLeft([]string{long("c"), long("d")})
	if !s.heldBefore(long("a")) || !s.heldBefore(long("d")) || s.heldBefore(long("c")) {
		t.Errorf("kept %d ids (%d bytes), want this node's S.a... and the member's newest S.d...",
			len(s.e().left), leftSize(s.e().left))
	}
	if leftSize(s.e().left) > maxLeftBytes {
		t.Errorf("kept %d bytes, past %d", leftSize(s.e().left), maxLeftBytes)
	}
}

// FuzzMergeLeft: whatever two lists a member and this node hold (a member's come from
// the wire, each within MaxStringLen), the merge keeps at most maxLeft ids of at most
// maxLeftBytes, none twice, none that neither list holds, and, with one list empty, the
// other's newest that fit, in its order; a session's list merged with itself or with
// nothing is that list; with both as sessions hold them, none is lost where all fit
// together, and each side's newest stays (as mergeLeft's doc says).
func FuzzMergeLeft(f *testing.F) {
	f.Add("S.r2 S.r3 S.r4 S.r5 S.r6 S.r7 S.r8 S.r9", "S.r0 S.r1 S.r2 S.r3 S.r4 S.r5 S.r6 S.r7", 0)
	f.Add("S.a0 S.a1", "S.b0 S.a1 S.b1 S.a0", 700)
	f.Add("", "S.x S.x S.y", 2000)
	f.Fuzz(func(t *testing.T, own, theirs string, pad int) {
		pad = min(max(pad, 0), 3*maxLeftBytes)
		split := func(s string) (ids []string) {
			for _, id := range strings.Fields(s) {
				ids = append(ids, id+strings.Repeat("p", pad*len(id)%(maxLeftBytes+256))) // sizes around the bound
			}
			return ids
		}
		o, th := split(own), split(theirs)
		got := mergeLeft(o, th)
		if len(got) > maxLeft || leftSize(got) > maxLeftBytes {
			t.Fatalf("kept %d ids of %d bytes", len(got), leftSize(got))
		}
		seen := map[string]bool{}
		for _, id := range got {
			if seen[id] || (!slices.Contains(o, id) && !slices.Contains(th, id)) {
				t.Fatalf("kept %q twice or from neither list", id)
			}
			seen[id] = true
		}
		if len(th) == 0 {
			if want := keptOneByOne(o); !slices.Equal(got, want) {
				t.Fatalf("merged with nothing: %q, want %q", got, want)
			}
		}
		// A list as a session holds it (addLeft's) merged with nothing, by nothing, or
		// with itself is that list.
		for _, x := range [][]string{keptOneByOne(o), keptOneByOne(th)} {
			if m := mergeLeft(nil, x); !slices.Equal(m, x) {
				t.Fatalf("nothing merged with %q: %q", x, m)
			}
			if m := mergeLeft(x, x); !slices.Equal(m, x) {
				t.Fatalf("%q merged with itself: %q", x, m)
			}
		}
		// Where every id of both lists fits the bounds together, none is lost.
		ko, kt := keptOneByOne(o), keptOneByOne(th)
		got = mergeLeft(ko, kt)
		union := slices.Clone(ko)
		for _, id := range kt {
			if !slices.Contains(union, id) {
				union = append(union, id)
			}
		}
		if len(union) <= maxLeft && leftSize(union) <= maxLeftBytes && !sameIDs(got, union) {
			t.Fatalf("%q merged with %q: %q, want all of them", ko, kt, got)
		}
		// Each side's newest stays: this node's, unless the member holds it too (it
		// orders it), and the member's, unless this node holds it or the two do not fit
		// maxLeftBytes together.
		if len(ko) > 0 && len(kt) > 0 {
			on, tn := ko[len(ko)-1], kt[len(kt)-1]
			if !slices.Contains(kt, on) && !slices.Contains(got, on) {
				t.Fatalf("%q merged with %q: %q, without this node's newest", ko, kt, got)
			}
			if !slices.Contains(ko, tn) && len(on)+len(tn) <= maxLeftBytes && !slices.Contains(got, tn) {
				t.Fatalf("%q merged with %q: %q, without the member's newest", ko, kt, got)
			}
		}
	})
}

// keptOneByOne is what a session keeps of ids recorded one by one (addLeft): the newest
// that fit, each once.
func keptOneByOne(ids []string) []string {
	s := &Session{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.addLeft(id)
	}
	return slices.Clone(s.e().left)
}

// TestMergeLeftUnorderedKeepsThisNodesFirst pins what the merge does where the lists do
// not order two ids, or order them both ways (a rename back moves an id to the newest
// on the nodes that see it, so two nodes that each missed some renames can hold two ids
// in opposite orders): it ends, keeps each id once, and keeps this node's order and this
// node's ids first. So two nodes merging each other's lists past the bounds need not keep
// the same ids: with seven ids of 290 bytes fitting maxLeftBytes, this node keeps its
// S.a4 where the member, merging the other way, keeps its S.b4.
func TestMergeLeftUnorderedKeepsThisNodesFirst(t *testing.T) {
	sized := func(n int, ids ...string) (out []string) {
		for _, id := range ids {
			out = append(out, id+strings.Repeat("p", n-len(id)))
		}
		return out
	}
	a, b := sized(290, "S.a0", "S.a1", "S.a2", "S.a3", "S.a4", "S.a5", "S.a6", "S.a7"),
		sized(290, "S.b0", "S.b1", "S.b2", "S.b3", "S.b4", "S.b5", "S.b6", "S.b7")
	for _, c := range []struct {
		name              string
		own, theirs, want []string
	}{
		{"opposite orders", []string{"S.a", "S.b"}, []string{"S.b", "S.a"}, []string{"S.a", "S.b"}},
		{"opposite orders, the other way", []string{"S.b", "S.a"}, []string{"S.a", "S.b"}, []string{"S.b", "S.a"}},
		{"opposite orders beside an id each", []string{"S.a", "S.b", "S.x"}, []string{"S.b", "S.a", "S.y"},
			[]string{"S.a", "S.b", "S.y", "S.x"}},
		{"apart past the bytes", keptOneByOne(a), keptOneByOne(b),
			sized(290, "S.a4", "S.b5", "S.a5", "S.b6", "S.a6", "S.b7", "S.a7")},
		{"apart past the bytes, the other way", keptOneByOne(b), keptOneByOne(a),
			sized(290, "S.b4", "S.a5", "S.b5", "S.a6", "S.b6", "S.a7", "S.b7")},
	} {
		if got := mergeLeft(c.own, c.theirs); !slices.Equal(got, c.want) {
			t.Errorf("%s: kept %d ids %.40q, want %.40q", c.name, len(got), got, c.want)
		}
	}
}
