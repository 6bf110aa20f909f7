package farm_test

import (
	"testing"

	"github.com/gotribes/tribes/farm"
)

// TestContextNames: Tomcat's mapping between a file's name and its context, both ways.
func TestContextNames(t *testing.T) {
	for _, tc := range []struct{ file, context, base string }{
		{"shop.war", "/shop", "shop"},
		{"ROOT.war", "", "ROOT"},
		{"api#v2.war", "/api/v2", "api#v2"},
		{"shop##3.war", "/shop##3", "shop##3"},
		{"ROOT##2.war", "##2", "ROOT##2"},
	} {
		if got := farm.ContextName(tc.file); got != tc.context {
			t.Errorf("ContextName(%q) = %q, want %q", tc.file, got, tc.context)
		}
		if got := farm.BaseName(tc.context); got != tc.base {
			t.Errorf("BaseName(%q) = %q, want %q", tc.context, got, tc.base)
		}
	}
}
