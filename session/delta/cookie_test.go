package delta

import (
	"net/http"
	"slices"
	"testing"
)

// TestCookieValueMatchesNetHTTP: the middleware's own Cookie header parsing finds the
// same session ids, in the same order, as http.Request.Cookies.
func TestCookieValueMatchesNetHTTP(t *testing.T) {
	for _, lines := range [][]string{
		{"JSESSIONID=ABC.a"},
		{"a=1; JSESSIONID=ABC.a; b=2"},
		{"JSESSIONID=ABC.a;JSESSIONID=DEF.b"},
		{`JSESSIONID="ABC.a"`, "x=y; JSESSIONID=DEF.b"},
		{"  JSESSIONID = ABC.a ", "JSESSIONID=", "JSESSIONID", ";;", "jsessionid=ABC"},
		{"JSESSIONID=A B", "JSESSIONID=ok-1_2.x", `JSESSIONID="`},
	} {
		r := &http.Request{Header: http.Header{"Cookie": lines}}
		var want []string
		for _, c := range r.Cookies() {
			if c.Name == "JSESSIONID" && validID(c.Value) {
				want = append(want, c.Value)
			}
		}
		var got []string
		eachCookie(r.Header, "JSESSIONID", func(v string) bool {
			if validID(v) {
				got = append(got, v)
			}
			return true
		})
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %q, net/http finds %q", lines, got, want)
		}
	}
}
