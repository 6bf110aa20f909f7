package clip

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestEnds: a text no longer than head+tail bytes is returned as it is; a longer one
// keeps its first head and last tail bytes around the ellipsis, a rune cut in two at
// either cut (here "é", two bytes, and "名", three) becoming a '?'.
func TestEnds(t *testing.T) {
	for _, c := range []struct {
		s          string
		head, tail int
		want       string
	}{
		{"", 2, 2, ""},
		{"abcd", 2, 2, "abcd"},
		{"abcde", 2, 2, "ab…de"},
		{"abcdefghij", 3, 0, "abc…"},
		{"abcdefghij", 0, 3, "…hij"},
		{"abcdefghij", -1, -1, "…"},
		{"aé" + strings.Repeat("x", 10) + "名b", 2, 3, "a?…?b"},
		{"aé" + strings.Repeat("x", 10) + "名b", 3, 4, "aé…名b"},
		{"a\xffb", 1, 1, "a…b"},
		{"a\xff" + strings.Repeat("x", 5) + "\xfeb", 2, 2, "a?…?b"},
		{"\xff", 1, 0, "\xff"}, // not clipped: as it is
	} {
		if got := Ends(c.s, c.head, c.tail); got != c.want {
			t.Errorf("Ends(%q, %d, %d) = %q, want %q", c.s, c.head, c.tail, got, c.want)
		}
	}
}

// FuzzEnds: Ends never panics, keeps at most head+tail bytes besides the ellipsis, and
// gives valid UTF-8 for a valid text.
func FuzzEnds(f *testing.F) {
	f.Add("aé名b\xff", 2, 3)
	f.Fuzz(func(t *testing.T, s string, head, tail int) {
		head, tail = head%1024, tail%1024 // also negative
		got := Ends(s, head, tail)
		if len(s) <= max(head, 0)+max(tail, 0) {
			if got != s {
				t.Fatalf("Ends(%q, %d, %d) = %q, want it unchanged", s, head, tail, got)
			}
			return
		}
		if !strings.Contains(got, Ellipsis) {
			t.Fatalf("Ends(%q, %d, %d) = %q, no ellipsis", s, head, tail, got)
		}
		// Each part is at most its bytes: a '?' replaces one or more bytes.
		if n := len(got) - len(Ellipsis); n > max(head, 0)+max(tail, 0) {
			t.Fatalf("Ends(%q, %d, %d) = %q: %d bytes besides the ellipsis", s, head, tail, got, n)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Ends(%q, %d, %d) = %q: invalid UTF-8", s, head, tail, got)
		}
	})
}

// TestEndsHugeSizes: sizes whose sum overflows an int (a caller's "no limit" of
// math.MaxInt) leave a text as it is, rather than panicking on a slice out of range.
func TestEndsHugeSizes(t *testing.T) {
	for _, c := range []struct{ head, tail int }{
		{math.MaxInt, 1}, {1, math.MaxInt}, {math.MaxInt, math.MaxInt}, {math.MaxInt, -1},
	} {
		var got string
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Ends(%q, %d, %d) panicked: %v", "abcdef", c.head, c.tail, r)
				}
			}()
			got = Ends("abcdef", c.head, c.tail)
		}()
		if got != "abcdef" {
			t.Errorf("Ends(%q, %d, %d) = %q, want it unchanged", "abcdef", c.head, c.tail, got)
		}
	}
}
