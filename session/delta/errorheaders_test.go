package delta_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"

	"github.com/gotribes/tribes/session/delta"
)

// TestReplicationErrorDropsHandlerRepresentationHeaders: when acked replication fails,
// the middleware replaces the handler's response by its own plain-text 503
// (HTTPConfig.OnReplicationError's default), and the headers the handler had set for its
// own body go with it (sessionhttp.ClearRepresentation). A handler (or a compressing
// middleware inside this one) that set "Content-Encoding: gzip" before writing its gzip
// body would otherwise make the 503's plain text undecodable for the client (a browser
// shows ERR_CONTENT_DECODING_FAILED, Go's transport "gzip: invalid header") instead of
// the retryable error; a "Content-Disposition: attachment" would turn the error into a
// download.
func TestReplicationErrorDropsHandlerRepresentationHeaders(t *testing.T) {
	_, a, b, _ := three(t, delta.Config{Replication: delta.ReplicateAcked})
	h := wrap(t, a, delta.HTTPConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := delta.FromContext(r.Context()).Set("v", r.URL.Path); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var body bytes.Buffer
		zw := gzip.NewWriter(&body)
		_, _ = zw.Write([]byte("report"))
		_ = zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Disposition", `attachment; filename="report.txt"`)
		_, _ = w.Write(body.Bytes())
	}))
	id := sessionCookie(t, get(h, "/new", ""), "JSESSIONID").Value

	remove := b.ch.AddMessageListener(failingSessions{func() bool { return true }})
	defer remove()
	w := get(h, "/set", id)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("failed replication answered %d %q", w.Code, w.Body.String())
	}
	if ce := w.Header().Get("Content-Encoding"); ce != "" {
		if _, err := gzip.NewReader(bytes.NewReader(w.Body.Bytes())); err != nil {
			t.Errorf("the 503 says Content-Encoding %q but its body %q is plain text: a client cannot read it (%v)",
				ce, w.Body.String(), err)
		}
	}
	if cd := w.Header().Get("Content-Disposition"); cd != "" {
		t.Errorf("the 503 keeps the handler's Content-Disposition %q", cd)
	}
}
