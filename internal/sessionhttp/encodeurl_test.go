package sessionhttp

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestEncodeURL: the session id goes at the end of the link's path, before its query
// and fragment, as Tomcat's Response.toEncoded writes it, for links of this application
// only, and only for requests that did not name their session in a cookie.
func TestEncodeURL(t *testing.T) {
	const id = "ABC.go1"
	for _, c := range []struct {
		name, target, cookie, ctxPath, loc, want string
		tls                                      bool
	}{
		{name: "relative", target: "/app/page", ctxPath: "/app", loc: "next", want: "next;jsessionid=ABC.go1"},
		{name: "absolute path", target: "/app/page", ctxPath: "/app", loc: "/app/next", want: "/app/next;jsessionid=ABC.go1"},
		{name: "query and fragment", target: "/app/page", ctxPath: "/app", loc: "/app/next?a=1&b=2#top",
			want: "/app/next;jsessionid=ABC.go1?a=1&b=2#top"},
		{name: "fragment before query", target: "/app/page", ctxPath: "/app", loc: "/app/next#x?y",
			want: "/app/next;jsessionid=ABC.go1#x?y"},
		{name: "the context itself", target: "/app/page", ctxPath: "/app", loc: "/app", want: "/app;jsessionid=ABC.go1"},
		{name: "context path with slash", target: "/app/page", ctxPath: "/app/", loc: "/app/x", want: "/app/x;jsessionid=ABC.go1"},
		{name: "root context", target: "/page", ctxPath: "/", loc: "/anything", want: "/anything;jsessionid=ABC.go1"},
		{name: "empty context", target: "/page", ctxPath: "", loc: "/anything", want: "/anything;jsessionid=ABC.go1"},
		{name: "other application", target: "/app/page", ctxPath: "/app", loc: "/other/next", want: "/other/next"},
		{name: "prefix is not a parent", target: "/app/page", ctxPath: "/app", loc: "/application/x", want: "/application/x"},
		{name: "relative leaving the context", target: "/app/page", ctxPath: "/app", loc: "../other", want: "../other"},
		{name: "same host absolute", target: "http://example.com/app/page", ctxPath: "/app",
			loc: "http://EXAMPLE.com:80/app/x", want: "http://EXAMPLE.com:80/app/x;jsessionid=ABC.go1"},
		{name: "absolute without path", target: "http://example.com/page", ctxPath: "/",
			loc: "http://example.com", want: "http://example.com/;jsessionid=ABC.go1"},
		{name: "absolute without path, query", target: "http://example.com/page", ctxPath: "/",
			loc: "http://example.com?q=1", want: "http://example.com/;jsessionid=ABC.go1?q=1"},
		{name: "scheme-relative", target: "http://example.com/app/page", ctxPath: "/app",
			loc: "//example.com/app/x", want: "//example.com/app/x;jsessionid=ABC.go1"},
		{name: "other host", target: "http://example.com/app/page", ctxPath: "/app", loc: "http://evil.example/app/x",
			want: "http://evil.example/app/x"},
		{name: "other port", target: "http://example.com/app/page", ctxPath: "/app", loc: "http://example.com:8080/app/x",
			want: "http://example.com:8080/app/x"},
		{name: "other scheme", target: "http://example.com/app/page", ctxPath: "/app", loc: "https://example.com/app/x",
			want: "https://example.com/app/x"},
		{name: "https request", target: "https://example.com/app/page", ctxPath: "/app", loc: "https://example.com:443/app/x",
			tls: true, want: "https://example.com:443/app/x;jsessionid=ABC.go1"},
		{name: "https request, http link", target: "https://example.com/app/page", ctxPath: "/app",
			loc: "http://example.com/app/x", tls: true, want: "http://example.com/app/x"},
		{name: "mailto", target: "/app/page", ctxPath: "/", loc: "mailto:a@example.com", want: "mailto:a@example.com"},
		{name: "javascript", target: "/app/page", ctxPath: "/", loc: "javascript:alert(1)", want: "javascript:alert(1)"},
		{name: "fragment only", target: "/app/page", ctxPath: "/app", loc: "#top", want: "#top"},
		{name: "query only", target: "/app/page", ctxPath: "/app", loc: "?page=2", want: "?page=2"},
		{name: "unparsable", target: "/app/page", ctxPath: "/", loc: "/app/%zz", want: "/app/%zz"},
		{name: "already encoded", target: "/app/page", ctxPath: "/app", loc: "/app/x;jsessionid=ABC.go1?a",
			want: "/app/x;jsessionid=ABC.go1?a"},
		{name: "older id", target: "/app/page", ctxPath: "/app", loc: "/app/x;jsessionid=OLD",
			want: "/app/x;jsessionid=OLD;jsessionid=ABC.go1"},
		{name: "empty: the request's own URL", target: "/app/page?n=1", ctxPath: "/app", loc: "",
			want: "/app/page;jsessionid=ABC.go1?n=1"},
		{name: "cookie client", target: "/app/page", cookie: "JSESSIONID=ABC.go1", ctxPath: "/app", loc: "/app/x",
			want: "/app/x"},
		{name: "cookie naming another session", target: "/app/page", cookie: "JSESSIONID=OLD", ctxPath: "/app",
			loc: "/app/x", want: "/app/x"},
		{name: "other cookies only", target: "/app/page", cookie: "theme=dark; JSESSIONID=bad id", ctxPath: "/app",
			loc: "/app/x", want: "/app/x;jsessionid=ABC.go1"},
	} {
		r := httptest.NewRequest(http.MethodGet, c.target, nil)
		if !c.tls {
			r.TLS = nil
		} else if r.TLS == nil {
			r.TLS = &tls.ConnectionState{}
		}
		if c.cookie != "" {
			r.Header.Set("Cookie", c.cookie)
		}
		if got := EncodeURL(r, "JSESSIONID", c.ctxPath, id, c.loc); got != c.want {
			t.Errorf("%s: EncodeURL(%q) = %q, want %q", c.name, c.loc, got, c.want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/app/page", nil)
	if got := EncodeURL(r, "JSESSIONID", "/", "", "/app/x"); got != "/app/x" {
		t.Errorf("without a session: %q", got)
	}
	if got := EncodeURL(r, "SID", "/", id, "/app/x"); got != "/app/x;SID=ABC.go1" {
		t.Errorf("cookie SID: %q, want the parameter named after the cookie", got)
	}
	if got := EncodeURL(nil, "JSESSIONID", "/", id, "/app/x"); got != "/app/x" {
		t.Errorf("nil request: %q", got)
	}
}

// TestEncodeURLRoundTrip: what EncodeURL writes, PathSessionID reads back, and the
// handler sees the link's path without it.
func TestEncodeURLRoundTrip(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/app/page", nil)
	link := EncodeURL(r, "JSESSIONID", "/app", "ABC.go1", "/app/a%2Fb/next?x=1")
	next := httptest.NewRequest(http.MethodGet, link, nil)
	got, id := PathSessionID(next, URLParamName("JSESSIONID"))
	if id != "ABC.go1" || got.URL.Path != "/app/a/b/next" || got.URL.RawPath != "/app/a%2Fb/next" || got.URL.RawQuery != "x=1" {
		t.Fatalf("link %q read back as id %q, path %q raw %q query %q", link, id, got.URL.Path, got.URL.RawPath,
			got.URL.RawQuery)
	}
}
