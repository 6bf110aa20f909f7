package sessionhttp

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestEachSessionIDMatchesNetHTTP: the middlewares' own Cookie header parsing finds the
// same session ids, in the same order, as http.Request.Cookies.
func TestEachSessionIDMatchesNetHTTP(t *testing.T) {
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
			if c.Name == "JSESSIONID" && ValidID(c.Value) {
				want = append(want, c.Value)
			}
		}
		var got []string
		EachSessionID(r.Header, "JSESSIONID", func(v string) bool {
			got = append(got, v)
			return true
		})
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %q, net/http finds %q", lines, got, want)
		}
	}
}

// TestEachSessionIDBounded: at most MaxCookies session ids are tried, invalid values not
// counted, and f's false stops the walk.
func TestEachSessionIDBounded(t *testing.T) {
	var pairs []string
	for i := range 3 * MaxCookies {
		pairs = append(pairs, "JSESSIONID=bad value", fmt.Sprintf("JSESSIONID=ID%d", i))
	}
	h := http.Header{"Cookie": {strings.Join(pairs, "; ")}}
	var got []string
	EachSessionID(h, "JSESSIONID", func(v string) bool { got = append(got, v); return true })
	if len(got) != MaxCookies || got[0] != "ID0" || got[MaxCookies-1] != fmt.Sprintf("ID%d", MaxCookies-1) {
		t.Errorf("tried %q, want ID0 to ID%d", got, MaxCookies-1)
	}
	got = nil
	EachSessionID(h, "JSESSIONID", func(v string) bool { got = append(got, v); return v != "ID1" })
	if !slices.Equal(got, []string{"ID0", "ID1"}) {
		t.Errorf("tried %q after f returned false on ID1", got)
	}
	if ValidID("a b") || ValidID("") || ValidID(strings.Repeat("a", 257)) || !ValidID(strings.Repeat("a", 256)) {
		t.Error("ValidID")
	}
}
