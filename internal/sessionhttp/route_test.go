package sessionhttp

import "testing"

func TestRoute(t *testing.T) {
	for _, tc := range []struct{ id, route, with, without string }{
		{"ABC.node1", "node1", "ABC.go", "ABC"},
		{"ABC", "", "ABC.go", "ABC"},
		{"ABC.a.b", "a.b", "ABC.go", "ABC"},
	} {
		if got := RouteOf(tc.id); got != tc.route {
			t.Errorf("RouteOf(%q) = %q, want %q", tc.id, got, tc.route)
		}
		if got := WithRoute(tc.id, "go"); got != tc.with {
			t.Errorf("WithRoute(%q, go) = %q, want %q", tc.id, got, tc.with)
		}
		if got := WithRoute(tc.id, ""); got != tc.without {
			t.Errorf("WithRoute(%q, \"\") = %q, want %q", tc.id, got, tc.without)
		}
	}
}
