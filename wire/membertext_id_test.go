package wire

import (
	"strings"
	"testing"
)

// A member whose unique id has a typo (a digit too few, or a UUID with dashes as Java
// prints one) was refused with "too many colons in address": the id was not mentioned,
// so the user looked at the host and port, which were right (tribesdemo --static printed
// exactly this). The error names the id now. (Found by review.)
func TestBadUniqueIDNamed(t *testing.T) {
	for _, s := range []string{
		"127.0.0.1:4000:15ddf6a6977d4c619ac2137b358d560",      // 31 digits
		"127.0.0.1:4000:15ddf6a6-977d-4c61-9ac2-137b358d5600", // UUID form
		"127.0.0.1:4000:0001",                                 // short
	} {
		_, err := ParseMemberText(s)
		if err == nil {
			t.Errorf("%s: accepted", s)
			continue
		}
		if strings.Contains(err.Error(), "too many colons") || !strings.Contains(strings.ToLower(err.Error()), "id") {
			t.Errorf("%s: %v (the cause is the unique id, not the address)", s, err)
		}
	}
}
