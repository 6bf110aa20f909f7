package delta

import (
	"crypto/rand"
	"strings"
)

// idBytes is Tomcat's sessionIdLength: 16 random bytes, 32 hex digits.
const idBytes = 16

// maxIDLen bounds the ids accepted from cookies and messages.
const maxIDLen = 256

const upperHex = "0123456789ABCDEF"

// newSessionID returns 16 bytes from crypto/rand as upper-case hex, plus ".route" when
// route is not empty (Tomcat's StandardSessionIdGenerator format).
func newSessionID(route string) string {
	var raw [idBytes]byte
	_, _ = rand.Read(raw[:]) // never fails since Go 1.24
	var b strings.Builder
	b.Grow(2*idBytes + 1 + len(route))
	for _, c := range raw {
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0x0f])
	}
	if route != "" {
		b.WriteByte('.')
		b.WriteString(route)
	}
	return b.String()
}

// validID reports whether s can be a session id from outside: 1 to maxIDLen characters
// from [A-Za-z0-9._-].
func validID(s string) bool {
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

// validRoute reports whether s can be a jvmRoute: an id without dots.
func validRoute(s string) bool { return validID(s) && !strings.Contains(s, ".") }
