package sessionhttp

import (
	"net/http/httptest"
	"testing"
)

// TestEncodeURLBrowserHostForms: links that Go's url.Parse reads as a path on this
// server but a browser reads as another host (WHATWG URL: in http(s) URLs '\' is '/',
// and leading or trailing spaces and control characters are removed) keep the session
// id out: it would go to that host.
func TestEncodeURLBrowserHostForms(t *testing.T) {
	const id = "ABC.go1"
	for _, c := range []struct{ ctxPath, loc string }{
		{"/app", `\\evil.example/app/x`},
		{"/", `\\evil.example/x`},
		{"/", `/\evil.example/x`},
		{"/", `\/evil.example/x`},
		{"/", `http:/\evil.example/x`},
		{"/", `http:\\evil.example/x`},
		{"/app", ` //evil.example/app/x`},
		{"/", ` //evil.example/x`},
		{"/", "//evil.example/x "},
		{"/", "\x00//evil.example/x"},
	} {
		r := httptest.NewRequest("GET", "http://example.com/app/page", nil)
		if got := EncodeURL(r, "JSESSIONID", c.ctxPath, id, c.loc); got != c.loc {
			t.Errorf("EncodeURL(%q) under %q = %q, want it unchanged (a browser sends it to evil.example)",
				c.loc, c.ctxPath, got)
		}
	}
	// A backslash after the path (query, fragment) does not change the host.
	r := httptest.NewRequest("GET", "http://example.com/app/page", nil)
	if got, want := EncodeURL(r, "JSESSIONID", "/app", id, `/app/x?q=a\b`), `/app/x;jsessionid=ABC.go1?q=a\b`; got != want {
		t.Errorf("EncodeURL with a backslash in the query = %q, want %q", got, want)
	}
}
