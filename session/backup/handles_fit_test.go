package backup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/allocbound"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// shortStrings returns n distinct strings of 4 characters, from the from'th on: each
// takes 7 bytes and a handle in a Java stream, fewer bytes than the 8 per handle
// MaxHandles' default grows by.
func shortStrings(from, n int) []any {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	v := make([]any, n)
	for i := range v {
		k := from + i
		var b [4]byte
		for j := range b {
			b[j] = digits[k%len(digits)]
			k /= len(digits)
		}
		v[i] = string(b[:])
	}
	return v
}

// TestDiffFitsUnderAFixedHandleLimit: with MaxHandles left 0, the handles a stream may
// take grow with its bytes (one per 8 beyond jserial.DefaultMaxHandles), so that values
// fitting together could stop fitting without one of them: a (600 000 short strings)
// and c (as many others) go past the limit together (1.2M handles in 8.4 MB), and fit
// once b, a 2 MB byte array, follows them (10.4 MB). Diff's first fit searched runs of
// the values, taking a run that fits for one whose every value fits with those kept
// before it: of a, c, b, d (2 MB more, past MaxBytes 12 MB with the three), e, f, it
// kept a, c, b, e, f, c not fitting with a. The values are now fitted under the handle
// limit the smallest stream has (jserial.DefaultMaxHandles, where values that fit
// together still fit without one of them), so that Diff keeps each value that fits
// with those kept before it: a, b, d, e, f, c left out.
func TestDiffFitsUnderAFixedHandleLimit(t *testing.T) {
	allocbound.WithoutRace(t) // 1.2M strings encoded and decoded again and again
	limits := backup.Limits{Java: delta.JavaCodec{Limits: jserial.DecoderConfig{MaxBytes: 12 << 20}}}
	s := backup.NewSession("S3.go", time.Hour, limits)
	cp := backup.NewSession("S3.go", time.Hour, limits)
	for _, v := range []struct {
		name string
		v    any
	}{
		{"a", shortStrings(0, 600_000)}, {"c", shortStrings(600_000, 600_000)},
		{"b", make([]byte, 2<<20)}, {"d", make([]byte, 2<<20)}, {"e", "e"}, {"f", "f"},
	} {
		if err := s.Set(v.name, v.v); err != nil {
			t.Fatal(err)
		}
	}
	if got := diffOnto(t, s, cp); got != "a,b,d,e,f" {
		t.Errorf("the copy holds %q, want a,b,d,e,f (c left out: it does not fit with a)", got)
	}
	if got := strings.Join(s.AttributeNames(), ","); got != "a,c,b,d,e,f" {
		t.Errorf("the session holds %q, want a,c,b,d,e,f", got)
	}
}
