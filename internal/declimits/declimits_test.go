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

// TestFirstFit: with sizes that add up (a fit is a sum within a limit), FirstFit keeps
// what trying the values one by one keeps: each value that fits with those kept before
// it, a later smaller value after a larger one left out among them. It calls fits once
// when all fit, and a number of times logarithmic in the values for each size left out.
func TestFirstFit(t *testing.T) {
	naive := func(sizes []int, limit int) []bool {
		keep, sum := make([]bool, len(sizes)), 0
		for i, s := range sizes {
			if sum+s <= limit {
				keep[i], sum = true, sum+s
			}
		}
		return keep
	}
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
			sizes[i] = 1 + rng.IntN(6) // at most 6 sizes: at most 7 searches
		}
		limit := rng.IntN(4*n + 1)
		calls := 0
		got := FirstFit(sizes, func(keep []bool) bool {
			calls++
			return sum(sizes, keep) <= limit
		})
		if want := naive(sizes, limit); !slices.Equal(got, want) {
			t.Fatalf("sizes %v, limit %d: kept %v, want %v", sizes, limit, got, want)
		}
		if n > 0 && sum(sizes, got) == sum(sizes, naive(sizes, 1<<30)) && calls != 1 {
			t.Fatalf("sizes %v, limit %d: all fit, %d calls", sizes, limit, calls)
		}
		if limit := 7 * (2 + bits.Len(uint(n))); calls > limit {
			t.Fatalf("sizes %v: %d calls, want at most %d", sizes, calls, limit)
		}
	}
	// Sizes that each take a search: after MaxFirstFitSearches, the rest is left out,
	// what is kept still fits.
	sizes = make([]int, 0, 64)
	for i := range 64 {
		sizes = append(sizes, 1000-i)
	}
	calls := 0
	got = FirstFit(sizes, func(keep []bool) bool { calls++; return sum(sizes, keep) <= 1000 })
	if kept := sum(sizes, got); kept > 1000 || kept == 0 {
		t.Fatalf("decreasing sizes: kept %d bytes, want at most 1000 and some", kept)
	}
	if calls > MaxFirstFitSearches*(2+bits.Len(64)) {
		t.Fatalf("decreasing sizes: %d calls", calls)
	}
}

func sum(sizes []int, keep []bool) int {
	n := 0
	for i, k := range keep {
		if k {
			n += sizes[i]
		}
	}
	return n
}
