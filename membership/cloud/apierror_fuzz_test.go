package cloud

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzAPIError feeds arbitrary status lines and bodies to apiError, what the provider
// makes of a Kubernetes answer other than 200 (from the API server, or from whatever
// answers at its address): no panic; at most maxErrorBody bytes of the body read; the
// status and message each at most maxClipped bytes besides the ellipsis, valid UTF-8,
// with no control or format character (TestKubernetesErrorReplacesFormatCharacters);
// and the error wraps ErrFetch.
func FuzzAPIError(f *testing.F) {
	f.Add("403 Forbidden", []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"`+forbiddenMessage+`","reason":"Forbidden","code":403}`))
	f.Add("500 Internal Server Error", []byte("<html>oops</html>"))
	f.Add("404 Not Found", []byte(`{"kind":"Status","message":""}`))
	f.Add("401 \u202eUnauthorized", []byte(`{"kind":"Status","message":"a\u202eb\u0000c\u2028d"}`))
	f.Add(strings.Repeat("9", 300), bytes.Repeat([]byte{0xff}, 5000))
	f.Add("502 Bad Gateway", []byte(strings.Repeat(`{"kind":"Status","message":"`, 200)))
	f.Fuzz(func(t *testing.T, status string, body []byte) {
		cr := &countingReader{r: bytes.NewReader(body)}
		e := apiError("https://k8s.invalid/api/v1/namespaces/default/pods", 403, status, cr)
		if cr.n > maxErrorBody {
			t.Fatalf("read %d bytes of the body, limit %d", cr.n, maxErrorBody)
		}
		for what, s := range map[string]string{"status": e.Status, "message": e.Message} {
			if len(s) > maxClipped+len("…") {
				t.Fatalf("%s of %d bytes: %.300q", what, len(s), s)
			}
			if !utf8.ValidString(s) {
				t.Fatalf("%s not valid UTF-8: %q", what, s)
			}
			if i := strings.IndexFunc(s, func(r rune) bool {
				return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
			}); i >= 0 {
				t.Fatalf("%s holds a control or format character at %d: %q", what, i, s)
			}
		}
		msg := e.Error()
		if !errors.Is(e, ErrFetch) || len(msg) > 512 || strings.IndexFunc(msg, unicode.IsControl) >= 0 {
			t.Fatalf("error %v (wraps ErrFetch: %v) of %d bytes", msg, errors.Is(e, ErrFetch), len(msg))
		}
	})
}
