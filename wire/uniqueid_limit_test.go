package wire

import (
	"errors"
	"strings"
	"testing"
)

// ParseUniqueID reads text from flags and configuration files of any length: refusing a
// huge one, in either form, its error quotes the start of it and its length, not all of it
// (a megabyte of text made a megabyte of error, logged or printed as it was).
func TestParseUniqueIDHugeInputShortError(t *testing.T) {
	const size = 1 << 20
	for name, s := range map[string]string{
		"tomcat":       "{" + strings.Repeat("1,", size/2) + "}",
		"hex":          strings.Repeat("ab", size/2),
		"hex, dashes":  strings.Repeat("-", size),
		"tomcat, open": " {" + strings.Repeat(" ", size),
	} {
		_, err := ParseUniqueID(s)
		if !errors.Is(err, ErrBadMemberText) {
			t.Errorf("%s: %v, want ErrBadMemberText", name, err)
			continue
		}
		if len(err.Error()) > 1024 || !strings.Contains(err.Error(), "bytes") {
			t.Errorf("%s: error of %d bytes (%.200s...), want under 1 KiB giving the length", name, len(err.Error()), err)
		}
	}
}

// A shell expands Tomcat's uniqueId text left unquoted, "--id {-64,10,...}", into words,
// "--id -64 10 ...", so that the id read is its first byte: the error says to quote it.
func TestParseUniqueIDUnquotedBracesHint(t *testing.T) {
	for _, s := range []string{"-64", "10", "127", "-128"} {
		_, err := ParseUniqueID(s)
		if !errors.Is(err, ErrBadMemberText) || !strings.Contains(err.Error(), "quote") {
			t.Errorf("ParseUniqueID(%q): %v, want a hint to quote the braces", s, err)
		}
	}
	if _, err := ParseUniqueID("xyz"); err == nil || strings.Contains(err.Error(), "quote") {
		t.Errorf("ParseUniqueID(xyz): %v, want no hint to quote", err)
	}
}
