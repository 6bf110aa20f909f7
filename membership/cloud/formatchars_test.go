package cloud

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
)

// formatChars are the characters that reorder or hide text without being control
// characters: the bidi embeddings and overrides (U+202A-U+202E), the bidi isolates
// (U+2066-U+2069), the zero-width space, joiners and marks, the byte order mark, and the
// line and paragraph separators.
var formatChars = []rune{
	'\u202a', '\u202b', '\u202c', '\u202d', '\u202e',
	'\u2066', '\u2067', '\u2068', '\u2069',
	'\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u2060', '\ufeff',
	'\u2028', '\u2029',
}

// hiddenRune reports the first rune of s that a log line would not show as it is, if
// any.
func hiddenRune(s string) (rune, bool) {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) {
			return r, true
		}
	}
	return 0, false
}

// TestCleanReplacesFormatCharacters: clean replaced control characters only, so that an
// API server's (or any answer's) text holding a bidi override or a zero-width character
// reached the error, and the log line, as it was, able to show its words reordered or a
// name that is not the one there. Each such character is now replaced by '?'.
func TestCleanReplacesFormatCharacters(t *testing.T) {
	for _, r := range formatChars {
		s := "pods is forbidden: user " + string(r) + "evil" + string(r) + " cannot list"
		got := clipText(s)
		if c, ok := hiddenRune(got); ok {
			t.Errorf("clipText kept %U: %q", c, got)
		}
		if want := strings.ReplaceAll(s, string(r), "?"); got != want {
			t.Errorf("clipText(%q) = %q, want %q", s, got, want)
		}
	}
	// Letters, marks and spaces of other scripts are kept.
	if s := "Pod «тест» 名前 é\u00a0x"; clipText(s) != s {
		t.Errorf("clipText(%q) = %q, want it unchanged", s, clipText(s))
	}
}

// TestKubernetesErrorReplacesFormatCharacters: the body of a 503 holding a bidi
// override, isolates and zero-width characters reaches the *APIError's Message and the
// error text with each of them replaced.
func TestKubernetesErrorReplacesFormatCharacters(t *testing.T) {
	body := "upstream \u202eexe.live\u202c \u2066x\u2069 a\u200bb\ufeff"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	_, err := httpProvider(t, srv, nil).Fetch(context.Background())
	var ae *APIError
	if !errors.Is(err, ErrFetch) || !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *APIError wrapping ErrFetch", err)
	}
	for _, s := range []string{ae.Message, err.Error()} {
		if c, ok := hiddenRune(s); ok {
			t.Errorf("%q holds %U", s, c)
		}
	}
	if want := "upstream ?exe.live? ?x? a?b?"; !strings.Contains(ae.Message, want) {
		t.Errorf("Message %q, want it to hold %q", ae.Message, want)
	}
}
