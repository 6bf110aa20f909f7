package declimits

import (
	"errors"
	"math"
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
