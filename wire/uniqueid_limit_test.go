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
