package declimits

import (
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/jserial"
)

func TestMaxBytes(t *testing.T) {
	for _, tc := range []struct {
		max    int
		limits jserial.DecoderConfig
		want   int
	}{
		{0, jserial.DecoderConfig{}, 0},
		{5, jserial.DecoderConfig{}, 5},
		{0, jserial.DecoderConfig{MaxBytes: 7}, 7},
		{7, jserial.DecoderConfig{MaxBytes: 7, MaxDepth: 3}, 7},
		{math.MaxInt, jserial.DecoderConfig{}, math.MaxInt},
	} {
		got, err := MaxBytes("x.Config", tc.max, tc.limits)
		if err != nil || got != tc.want {
			t.Errorf("MaxBytes(%d, %+v) = %d, %v, want %d", tc.max, tc.limits, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		max    int
		limits jserial.DecoderConfig
		says   string
	}{
		{-1, jserial.DecoderConfig{}, "negative x.Config.MaxMessageBytes"},
		{0, jserial.DecoderConfig{MaxHandles: -1}, "x.Config.Limits: "},
		{1 << 20, jserial.DecoderConfig{MaxBytes: 2 << 20}, "x.Config.Limits.MaxBytes 2097152 and MaxMessageBytes 1048576 differ"},
	} {
		_, err := MaxBytes("x.Config", tc.max, tc.limits)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("MaxBytes(%d, %+v) = %v, want an error saying %q", tc.max, tc.limits, err, tc.says)
		}
	}
	if _, err := MaxBytes("x.Config", 0, jserial.DecoderConfig{MaxArrayLen: -1}); !errors.Is(err, jserial.ErrInvalidConfig) {
		t.Errorf("negative limits: %v, want an error wrapping jserial.ErrInvalidConfig", err)
	}
}

func TestLongestFit(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for limit := 0; limit <= n+1; limit++ {
			calls := 0
			got := LongestFit(n, func(k int) bool {
				calls++
				if k <= 0 || k > n {
					t.Fatalf("n %d: fits(%d) called", n, k)
				}
				return k <= limit
			})
			if want := min(limit, n); got != want {
				t.Fatalf("n %d, limit %d: got %d, want %d", n, limit, got, want)
			}
			if calls > 8 {
				t.Fatalf("n %d, limit %d: %d calls", n, limit, calls)
			}
		}
	}
}

// naiveFirstFit is first fit by trying the values one by one, with sizes that add up
// (a fit is a sum within limit).
func naiveFirstFit(sizes []int, limit int) []bool {
	keep, sum := make([]bool, len(sizes)), 0
	for i, s := range sizes {
		if sum+s <= limit {
			keep[i], sum = true, sum+s
		}
	}
	return keep
}

// callWork is what FirstFit counts a call of fits as against FirstFitWork: the sizes of
// the values keep marks plus a 64th of their sum.
func callWork(sizes []int, keep []bool) int { return sum(sizes, keep) + sum(sizes, nil)/64 + 1 }

// TestFirstFit: with sizes that add up (a fit is a sum within a limit), FirstFit keeps
// what trying the values one by one keeps: each value that fits with those kept before
// it, a later smaller value after a larger one left out among them. It calls fits once
// when all fit, and otherwise its calls after the first search encode at most
// FirstFitWork times the delta, and those of the first search and of the searches past
// that budget (at most 1+MaxFirstFitSearches) at most once each per halving.
func TestFirstFit(t *testing.T) {
	// The example of the brief: a small value, a large one past the limit with it, and
	// a small one after.
	sizes := []int{100, 180, 10}
	got := FirstFit(sizes, func(keep []bool) bool { return sum(sizes, keep) <= 250 })
	if !slices.Equal(got, []bool{true, false, true}) {
		t.Fatalf("FirstFit(%v, 250) = %v, want the first and the third kept", sizes, got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := rng.IntN(60)
		sizes := make([]int, n)
		for i := range sizes {
			sizes[i] = 1 + rng.IntN(6) // at most 6 sizes: at most 7 searches past the budget
		}
		limit := rng.IntN(4*n + 1)
		calls, work := 0, 0
		got := FirstFit(sizes, func(keep []bool) bool {
			calls++
			work += callWork(sizes, keep)
			return sum(sizes, keep) <= limit
		})
		if want := naiveFirstFit(sizes, limit); !slices.Equal(got, want) {
			t.Fatalf("sizes %v, limit %d: kept %v, want %v", sizes, limit, got, want)
		}
		if n > 0 && sum(sizes, got) == sum(sizes, nil) && calls != 1 {
			t.Fatalf("sizes %v, limit %d: all fit, %d calls", sizes, limit, calls)
		}
		whole := callWork(sizes, nil) + sum(sizes, nil)
		if bound := FirstFitWork*sum(sizes, nil) + 8*(2+bits.Len(uint(n)))*whole; work > bound {
			t.Fatalf("sizes %v, limit %d: work %d, want at most %d", sizes, limit, work, bound)
		}
	}
	// Sizes that each take a search past the budget: after MaxFirstFitSearches, the rest
	// is left out, what is kept still fits.
	sizes = make([]int, 0, 64)
	for i := range 64 {
		sizes = append(sizes, 1000-i)
	}
	calls := 0
	got = FirstFit(sizes, func(keep []bool) bool { calls++; return sum(sizes, keep) <= 1000 })
	if kept := sum(sizes, got); kept > 1000 || kept == 0 {
		t.Fatalf("decreasing sizes: kept %d bytes, want at most 1000 and some", kept)
	}
	if calls > (2+MaxFirstFitSearches)*(2+bits.Len(64))+64 {
		t.Fatalf("decreasing sizes: %d calls", calls)
	}
}

// sharing is a fits of values that share descriptors: value i takes body[i] plus, if
// no value kept before holds its class, desc; so alone it takes body[i]+desc, and less
// beside a value of its class. It is monotone: a value added never takes away.
type sharing struct {
	body  []int
	class []int
	desc  int
	limit int
}

func (s sharing) sizes() []int {
	sizes := make([]int, len(s.body))
	for i, b := range s.body {
		sizes[i] = b + s.desc
	}
	return sizes
}

func (s sharing) fits(keep []bool) bool {
	n, seen := 0, map[int]bool{}
	for i, k := range keep {
		if k {
			n += s.body[i]
			if !seen[s.class[i]] {
				seen[s.class[i]] = true
				n += s.desc
			}
		}
	}
	return n <= s.limit
}

// naive is first fit trying the values one by one.
func (s sharing) naive() []bool {
	keep := make([]bool, len(s.body))
	for i := range keep {
		keep[i] = true
		keep[i] = s.fits(keep)
	}
	return keep
}

// TestFirstFitTriesEqualSizes: a value left out for its size made FirstFit leave out,
// without trying it, every later value at least as large; one that shares its class
// with a value kept takes less beside it and fits after all. Here a (class 0, 100+50)
// is kept, L (class 1, 100+50) left out (300 together, past 250), and c, of L's size
// alone but of a's class (100 beside it), fits: FirstFit kept a only, it now keeps a
// and c, as trying them one by one does.
func TestFirstFitTriesEqualSizes(t *testing.T) {
	s := sharing{body: []int{100, 100, 100}, class: []int{0, 1, 0}, desc: 50, limit: 250}
	got := FirstFit(s.sizes(), s.fits)
	if want := []bool{true, false, true}; !slices.Equal(got, want) || !slices.Equal(got, s.naive()) {
		t.Fatalf("kept %v, want %v", got, want)
	}
	// At random, of few classes, without a budget: FirstFit keeps what trying one by one
	// keeps.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		n := rng.IntN(40)
		s := sharing{body: make([]int, n), class: make([]int, n), desc: rng.IntN(20), limit: rng.IntN(30*n + 1)}
		for i := range n {
			s.body[i], s.class[i] = 1+rng.IntN(10), rng.IntN(4)
		}
		if got, _ := firstFit(s.sizes(), s.fits, math.MaxInt/2); !slices.Equal(got, s.naive()) {
			t.Fatalf("%+v: kept %v, want %v", s, got, s.naive())
		}
	}
}

// TestFirstFitManyValues: 20 000 values of one size, half of which fit: FirstFit keeps
// the first half, as trying them one by one does, its calls encoding at most
// FirstFitWork times the delta beyond the first search's halvings (trying them one by
// one encoded about 10 000 deltas). And it shows where the budget ends: 500 values of
// class 1 that fit, values of class 0 that do not fit after them (their class's
// descriptor is too much), and one of class 1 after those, which fits beside the others
// of its class. Each value of class 0 takes a call of about the delta (those kept): after
// 2 of them the last is tried and kept; after 20 000 it is left out unprobed, the budget
// spent, as no smaller alone than the first value left out.
func TestFirstFitManyValues(t *testing.T) {
	const n = 20000
	sizes := slices.Repeat([]int{10}, n)
	limit := 10 * n / 2
	calls, work := 0, 0
	got := FirstFit(sizes, func(keep []bool) bool {
		calls++
		work += callWork(sizes, keep)
		return sum(sizes, keep) <= limit
	})
	if want := naiveFirstFit(sizes, limit); !slices.Equal(got, want) {
		t.Fatalf("kept %d values, want the first %d", sum(sizes, got)/10, n/2)
	}
	whole := callWork(sizes, nil) + sum(sizes, nil)
	if bound := FirstFitWork*sum(sizes, nil) + (2+bits.Len(n))*whole; work > bound {
		t.Errorf("work %d (%d calls), want at most %d (the delta is %d)", work, calls, bound, sum(sizes, nil))
	}
	for _, tc := range []struct {
		between int
		kept    bool
	}{{2, true}, {n, false}} {
		var s sharing
		s.desc, s.limit = 50, 500*10+50+10
		add := func(k, class int) {
			for range k {
				s.body, s.class = append(s.body, 10), append(s.class, class)
			}
		}
		add(500, 1)
		add(tc.between, 0)
		add(1, 1)
		got := FirstFit(s.sizes(), s.fits)
		if tc.between < 10 && !s.naive()[len(s.body)-1] { // (naive takes n² steps)
			t.Fatalf("between %d: the last value does not fit", tc.between)
		}
		if kept := got[len(got)-1]; kept != tc.kept || slices.Contains(got[:500], false) ||
			slices.Contains(got[500:len(got)-1], true) {
			t.Errorf("between %d: the first 500 kept %v, the last %v; want them all, and the last %v", tc.between,
				!slices.Contains(got[:500], false), kept, tc.kept)
		}
	}
}

func sum(sizes []int, keep []bool) int {
	n := 0
	for i, s := range sizes {
		if keep == nil || keep[i] {
			n += s
		}
	}
	return n
}

// TestFirstFitAtTheBudgetEdge: with a budget of exactly the work its probes after the
// first search take (spent), firstFit is exact first fit; one unit less and it falls
// back for the values still undecided, and what it keeps then is still a correct fit:
// fits holds for it (never beyond the limits). With sizes that add up, the fallback is
// exact too (a value no smaller than one left out would not fit either). With values
// sharing descriptors, the first value where it differs from trying the values one by
// one is one it left out unprobed, no smaller alone than a value left out before it:
// the rule FirstFit documents past its budget.
func TestFirstFitAtTheBudgetEdge(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	edges, differs := 0, 0
	for range 3000 {
		n := 2 + rng.IntN(40)
		s := sharing{body: make([]int, n), class: make([]int, n), desc: rng.IntN(20), limit: rng.IntN(30*n + 1)}
		additive := rng.IntN(2) == 0
		for i := range n {
			s.body[i], s.class[i] = 1+rng.IntN(10), rng.IntN(4)
			if additive { // a class of its own: sizes add up
				s.class[i] = 4 + i
			}
		}
		sizes, want := s.sizes(), s.naive()
		got, spent := firstFit(sizes, s.fits, math.MaxInt/2)
		if !slices.Equal(got, want) {
			t.Fatalf("%+v: unbounded: kept %v, want %v", s, got, want)
		}
		if got, again := firstFit(sizes, s.fits, spent); !slices.Equal(got, want) || again != spent {
			t.Fatalf("%+v: budget %d, as spent: kept %v (spent %d), want %v", s, spent, got, again, want)
		}
		if spent == 0 {
			continue // no probe after the first search: no edge
		}
		edges++
		for _, budget := range []int{spent - 1, rng.IntN(spent)} {
			got, used := firstFit(sizes, s.fits, budget)
			if used > budget {
				t.Fatalf("%+v: budget %d, spent %d", s, budget, used)
			}
			if !s.fits(got) {
				t.Fatalf("%+v: budget %d: kept %v, which does not fit", s, budget, got)
			}
			if additive {
				if !slices.Equal(got, want) {
					t.Fatalf("%+v: budget %d, sizes adding up: kept %v, want %v", s, budget, got, want)
				}
				continue
			}
			smallestOut := math.MaxInt
			for i := range got {
				if got[i] == want[i] {
					if !got[i] {
						smallestOut = min(smallestOut, sizes[i])
					}
					continue
				}
				differs++
				if got[i] || sizes[i] < smallestOut {
					t.Fatalf("%+v: budget %d: kept %v, first differs from %v at %d (size %d, smallest left out before %d)",
						s, budget, got, want, i, sizes[i], smallestOut)
				}
				break
			}
		}
	}
	if edges < 1000 || differs == 0 {
		t.Fatalf("%d cases with an edge, %d differing past it: the test does not reach the fallback", edges, differs)
	}
}
