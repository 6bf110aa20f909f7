package sessionhttp

import (
	"net/http"
	"net/url"
	"strings"
)

// URLParamName returns the path parameter that carries the session id in URLs for the
// session cookie cookie, as Tomcat's SessionConfig.getSessionUriParamName: "jsessionid"
// for the default cookie JSESSIONID, the cookie's name otherwise.
func URLParamName(cookie string) string {
	if cookie == "" || cookie == "JSESSIONID" {
		return "jsessionid"
	}
	return cookie
}

// PathSessionID returns r without the path parameters ";name=<value>" of its URL path
// (Tomcat's URL session tracking: the ";jsessionid=<id>" that HttpServletResponse.encodeURL
// writes into links), and the value of the last of them if it is a session id (ValidID),
// "" otherwise. A parameter ends at the next ';' or '/' of the path; only those named name
// are removed, from URL.Path and URL.RawPath, in a shallow copy of r and its URL (r is
// not changed; RequestURI keeps them). A path without one returns r itself, at the cost
// of one substring search.
func PathSessionID(r *http.Request, name string) (*http.Request, string) {
	if r == nil || r.URL == nil || name == "" {
		return r, ""
	}
	esc := r.URL.EscapedPath()
	marker := ";" + name + "="
	i := strings.Index(esc, marker)
	if i < 0 {
		return r, ""
	}
	var b strings.Builder
	b.Grow(len(esc))
	id := ""
	for i >= 0 {
		b.WriteString(esc[:i])
		rest := esc[i+len(marker):]
		end := strings.IndexAny(rest, ";/")
		if end < 0 {
			end = len(rest)
		}
		id = rest[:end]
		esc = rest[end:]
		i = strings.Index(esc, marker)
	}
	b.WriteString(esc)
	stripped := b.String()
	// Removing whole parameters (they end before a ';' or '/', never inside an escape)
	// leaves a valid escaped path.
	path, err := url.PathUnescape(stripped)
	if err != nil {
		return r, ""
	}
	u := *r.URL
	u.Path, u.RawPath = path, ""
	if r.URL.RawPath != "" {
		u.RawPath = stripped
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = &u
	if !ValidID(id) {
		id = ""
	}
	return r2, id
}

// EachRequestedID calls f with the session ids a request names: those of its cookies
// named cookie (EachSessionID, in order, until f returns false), or, if it has no such
// cookie with a session id, urlID (from PathSessionID; "" for none). As Tomcat's
// CoyoteAdapter, a session cookie overrides the URL's id.
func EachRequestedID(h http.Header, cookie, urlID string, f func(id string) bool) {
	found := false
	EachSessionID(h, cookie, func(id string) bool {
		found = true
		return f(id)
	})
	if !found && urlID != "" {
		f(urlID)
	}
}
