package sessionhttp

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestPathSessionID: the session id path parameter (Tomcat's URL session tracking) is
// read and removed from a copy of the request's URL path, raw path included; other path
// parameters stay, the caller's request is not changed, and an id that is not a session
// id (ValidID) is removed but not returned.
func TestPathSessionID(t *testing.T) {
	for _, c := range []struct {
		target, path, rawPath, id string
	}{
		{"/app/counter;jsessionid=ABC.t1", "/app/counter", "", "ABC.t1"},
		{"/app/counter;jsessionid=ABC.t1?a=1", "/app/counter", "", "ABC.t1"},
		{"/app;jsessionid=ABC/counter", "/app/counter", "", "ABC"},
		{"/app/x;v=1;jsessionid=ABC;w=2", "/app/x;v=1;w=2", "", "ABC"},
		{"/a;jsessionid=OLD/b;jsessionid=NEW", "/a/b", "", "NEW"}, // the last, as Tomcat's map of path parameters
		{"/app/a%2Fb;jsessionid=ABC", "/app/a/b", "/app/a%2Fb", "ABC"},
		{"/app/counter;jsessionid=A%20B", "/app/counter", "", ""},
		{"/app/counter;jsessionid=" + strings.Repeat("A", 257), "/app/counter", "", ""},
		{"/app/counter;jsessionid=", "/app/counter", "", ""},
		{"/app/counter;JSESSIONID=ABC", "/app/counter;JSESSIONID=ABC", "", ""}, // Tomcat's names are case-sensitive
		{"/app/counter%3Bjsessionid=ABC", "/app/counter;jsessionid=ABC", "/app/counter%3Bjsessionid=ABC", ""},
		{"/app/counter", "/app/counter", "", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, c.target, nil)
		before := *r.URL
		got, id := PathSessionID(r, URLParamName("JSESSIONID"))
		if id != c.id || got.URL.Path != c.path || got.URL.RawPath != c.rawPath {
			t.Errorf("%s: id %q path %q raw %q, want %q %q %q", c.target, id, got.URL.Path, got.URL.RawPath, c.id,
				c.path, c.rawPath)
		}
		if *r.URL != before {
			t.Errorf("%s: the caller's URL changed to %+v", c.target, *r.URL)
		}
		if got.URL.RawQuery != r.URL.RawQuery || got.RequestURI != r.RequestURI {
			t.Errorf("%s: query %q, request URI %q changed", c.target, got.URL.RawQuery, got.RequestURI)
		}
	}
	if got, id := PathSessionID(nil, "jsessionid"); got != nil || id != "" {
		t.Errorf("nil request: %v %q", got, id)
	}
}

// TestURLParamName: Tomcat's SessionConfig.getSessionUriParamName, "jsessionid" for the
// default cookie, the configured cookie name otherwise.
func TestURLParamName(t *testing.T) {
	for cookie, want := range map[string]string{"": "jsessionid", "JSESSIONID": "jsessionid", "SID": "SID"} {
		if got := URLParamName(cookie); got != want {
			t.Errorf("URLParamName(%q) = %q, want %q", cookie, got, want)
		}
	}
}

// TestEachRequestedID: the URL's id is tried only when no session cookie names an id,
// as Tomcat's cookies override the URL's id.
func TestEachRequestedID(t *testing.T) {
	for _, c := range []struct {
		cookies []string
		url     string
		want    []string
	}{
		{nil, "U", []string{"U"}},
		{nil, "", nil},
		{[]string{"JSESSIONID=C1; JSESSIONID=C2"}, "U", []string{"C1", "C2"}},
		{[]string{"JSESSIONID=bad id; other=1"}, "U", []string{"U"}},
	} {
		var got []string
		EachRequestedID(http.Header{"Cookie": c.cookies}, "JSESSIONID", c.url, func(id string) bool {
			got = append(got, id)
			return true
		})
		if !slices.Equal(got, c.want) {
			t.Errorf("cookies %q, URL id %q: %q, want %q", c.cookies, c.url, got, c.want)
		}
	}
}
