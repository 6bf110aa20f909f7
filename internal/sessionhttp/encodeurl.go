package sessionhttp

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// EncodeURL returns loc with the session id id as the path parameter
// ";<URLParamName(cookie)>=<id>" at the end of its path, before its query and fragment:
// Tomcat's HttpServletResponse.encodeURL, for clients that do not keep cookies (what
// PathSessionID reads back). r is the request being served, cookie the session cookie's
// name and contextPath the application's path (the session cookie's Path). loc is
// returned unchanged when
//
//   - id is "" (the request has no session);
//   - r named a session in a cookie (EachSessionID): the client keeps cookies (Tomcat's
//     isRequestedSessionIdFromCookie);
//   - loc is only a fragment ("#top"), does not parse as a URL, or has an empty path
//     ("?page=2": the parameter cannot come first, as in Tomcat);
//   - resolved against r's URL, loc is not this application's: its scheme is not r's
//     (https when r.TLS is set, http otherwise), its host or port not r.Host's, or its
//     path not contextPath or below it (relative references always share r's scheme,
//     host and port);
//   - loc already carries the parameter with this id;
//   - a browser may read another host in loc than url.Parse does (browserHost): a
//     backslash before its query or fragment (\\evil.example/x, /\evil.example/x:
//     browsers read a backslash as '/' in http(s) URLs), or a leading or trailing space or
//     control character (" //evil.example/x": browsers remove them).
//
// An empty loc stands for r's own path and query, and an absolute URL without a path
// gets "/" before the parameter, as in Tomcat.
func EncodeURL(r *http.Request, cookie, contextPath, id, loc string) string {
	if id == "" || r == nil || r.URL == nil || strings.HasPrefix(loc, "#") {
		return loc
	}
	fromCookie := false
	EachSessionID(r.Header, cookie, func(string) bool {
		fromCookie = true
		return false
	})
	if fromCookie {
		return loc
	}
	if loc == "" {
		loc = r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
	}
	if browserHost(loc) {
		return loc
	}
	u, err := url.Parse(loc)
	if err != nil || u.Opaque != "" || u.User != nil {
		return loc
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u.Scheme != "" && !strings.EqualFold(u.Scheme, scheme) {
		return loc
	}
	if u.Host != "" && !sameHost(u.Host, r.Host, scheme) {
		return loc
	}
	base := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	if !underContext(base.ResolveReference(u).Path, contextPath) {
		return loc
	}
	tok := ";" + URLParamName(cookie) + "=" + id
	if strings.Contains(loc, tok) {
		return loc
	}
	end := strings.IndexAny(loc, "?#")
	if end < 0 {
		end = len(loc)
	}
	path, rest := loc[:end], loc[end:]
	if path == "" {
		return loc
	}
	if u.Host != "" && u.Path == "" {
		path += "/"
	}
	return path + tok + rest
}

// browserHost reports whether a browser may take loc to another host than url.Parse
// does: the WHATWG URL parser, unlike url.Parse, reads a backslash before the query as
// a '/' in http(s) URLs and removes leading and trailing spaces and C0 controls, so that
// \\evil.example/x and " //evil.example/x", a path on this server to url.Parse, are
// links to evil.example to a browser.
func browserHost(loc string) bool {
	if loc != "" && (loc[0] <= ' ' || loc[len(loc)-1] <= ' ') {
		return true
	}
	end := strings.IndexAny(loc, "?#")
	if end < 0 {
		end = len(loc)
	}
	return strings.IndexByte(loc[:end], '\\') >= 0
}

// sameHost reports whether the host[:port] of a URL names the server of a request whose
// Host header is reqHost, the default ports of scheme filled in on both sides.
func sameHost(host, reqHost, scheme string) bool {
	h1, p1 := splitHostPort(host, scheme)
	h2, p2 := splitHostPort(reqHost, scheme)
	return strings.EqualFold(h1, h2) && p1 == p2
}

func splitHostPort(hostport, scheme string) (host, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil { // no port
		host, port = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), ""
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return host, port
}

// underContext reports whether path is the application's path contextPath or below it:
// "/app" and "/app/x" are under "/app", "/application" is not (Tomcat compares the
// strings' prefix only). "" and "/" hold every path.
func underContext(path, contextPath string) bool {
	cp := strings.TrimSuffix(contextPath, "/")
	return cp == "" || path == cp || strings.HasPrefix(path, cp+"/")
}
