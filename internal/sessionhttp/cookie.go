package sessionhttp

import (
	"net/http"
	"net/textproto"
	"strings"
)

// MaxCookies bounds the session cookies of one request that a middleware looks up: a
// client may send several (a stale one of another path or domain, then the live one),
// and a middleware tries each in turn, as Tomcat's CoyoteAdapter.parseSessionCookiesId
// does, but a request with hundreds of them costs no more than MaxCookies lookups.
const MaxCookies = 4

// maxIDLen bounds the session ids accepted from cookies (and, in session/delta, from
// messages).
const maxIDLen = 256

// ValidID reports whether s can be a session id from outside: 1 to 256 characters from
// [A-Za-z0-9._-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idChars[s[i]] {
			return false
		}
	}
	return true
}

// idChars holds the bytes a session id may contain: letters, digits, '.', '-' and '_'.
var idChars = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
	}
	return t
}()

// EachSessionID calls f with the value of each cookie named name in h's Cookie headers
// that is a session id (ValidID), in order, until f returns false or it was called
// MaxCookies times. It parses as http.Request.Cookies does, without allocating.
func EachSessionID(h http.Header, name string, f func(id string) bool) {
	n := 0
	for _, line := range h["Cookie"] {
		for line != "" {
			var pair string
			pair, line, _ = strings.Cut(line, ";")
			v, ok := cookieValue(pair, name)
			if !ok || !ValidID(v) {
				continue
			}
			if n++; !f(v) || n == MaxCookies {
				return
			}
		}
	}
}

// cookieValue returns the value of one "name=value" pair of a Cookie header if it is
// named name, with surrounding double quotes removed.
func cookieValue(pair, name string) (string, bool) {
	k, v, ok := strings.Cut(textproto.TrimString(pair), "=")
	if !ok || k != name {
		return "", false
	}
	if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v, true
}
