package sessionhttp

import "strings"

// RouteOf returns the jvmRoute of a session id: the part after its first dot, or "" if
// there is none.
func RouteOf(id string) string {
	_, r, _ := strings.Cut(id, ".")
	return r
}

// WithRoute returns id with its route replaced by route (removed when route is "").
func WithRoute(id, route string) string {
	base, _, _ := strings.Cut(id, ".")
	if route == "" {
		return base
	}
	return base + "." + route
}
