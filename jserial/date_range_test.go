package jserial

import (
	"errors"
	"math"
	"testing"
	"time"
)

// TestDateOutOfJavaRange: a java.util.Date holds milliseconds in a long, about
// 292 million years either side of 1970; a time.Time reaches much further. The encoder
// wrote x.UnixMilli(), whose result Go leaves undefined out of that range (it wraps), so
// Marshal silently wrote another instant instead of refusing the value (ErrType).
func TestDateOutOfJavaRange(t *testing.T) {
	in := time.Unix(1<<62, 0).UTC() // year ~146 billion
	b, err := Marshal(in)
	if err != nil {
		if !errors.Is(err, ErrType) {
			t.Errorf("%v, want ErrType", err)
		}
		return // refused: fine
	}
	v, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("Marshal wrote %x, Unmarshal: %v", b, err)
	}
	if got := v.(time.Time); !got.Equal(in) {
		t.Errorf("Marshal(%v) wrote the Date %v (%d ms) without an error", in, got, got.UnixMilli())
	}
}

// TestDateJavaRangeEdges: the first and last millisecond a Date holds are written (and
// read back, the sub-millisecond part dropped), the instants just beyond are refused.
func TestDateJavaRangeEdges(t *testing.T) {
	for _, ms := range []int64{math.MinInt64, math.MaxInt64} {
		in := time.UnixMilli(ms).Add(999 * time.Microsecond)
		b, err := Marshal(in)
		if err != nil {
			t.Fatalf("%d ms: %v", ms, err)
		}
		v, err := Unmarshal(b)
		if err != nil || !v.(time.Time).Equal(time.UnixMilli(ms)) {
			t.Errorf("%d ms: read back %v, %v", ms, v, err)
		}
	}
	for _, in := range []time.Time{
		time.UnixMilli(math.MinInt64).Add(-time.Nanosecond),
		time.UnixMilli(math.MaxInt64).Add(time.Millisecond),
	} {
		if _, err := Marshal(in); !errors.Is(err, ErrType) {
			t.Errorf("Marshal(%v): %v, want ErrType", in, err)
		}
	}
}
