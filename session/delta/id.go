package delta

import (
	"crypto/rand"
	"strings"

	"github.com/gotribes/tribes/internal/sessionhttp"
)

// idBytes is Tomcat's sessionIdLength: 16 random bytes, 32 hex digits.
const idBytes = 16

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

// validID reports whether s can be a session id from outside (sessionhttp.ValidID: 1 to
// 256 characters from [A-Za-z0-9._-]).
func validID(s string) bool { return sessionhttp.ValidID(s) }

// validRoute reports whether s can be a jvmRoute: an id without dots.
func validRoute(s string) bool { return validID(s) && !strings.Contains(s, ".") }
