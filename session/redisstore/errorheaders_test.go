package redisstore_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/session/redisstore"
)

// TestSaveErrorDropsHandlerRepresentationHeaders: as delta's
// TestReplicationErrorDropsHandlerRepresentationHeaders: when the session cannot be
// saved, OnError's response replaces the handler's, and the headers the handler set for
// its own body go with it: a "Content-Encoding: gzip" left on the plain-text 503 would
// make it unreadable, a "Content-Disposition: attachment" a download.
func TestSaveErrorDropsHandlerRepresentationHeaders(t *testing.T) {
	r := startRedis(t)
	st := newStore(t, r, redisstore.Config{})
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := redisstore.FromContext(r.Context()).Set("v", 1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var body bytes.Buffer
		zw := gzip.NewWriter(&body)
		_, _ = zw.Write([]byte("report"))
		_ = zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Disposition", `attachment; filename="report.txt"`)
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Node", "a")
		_, _ = w.Write(body.Bytes())
	}))
	r.stop() // the new session cannot be saved
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("failed save answered %d %q", w.Code, w.Body.String())
	}
	for _, k := range []string{"Content-Encoding", "Content-Disposition", "ETag", "Set-Cookie"} {
		if v := w.Header().Get(k); v != "" {
			t.Errorf("the 503 keeps the handler's %s %q", k, v)
		}
	}
	if w.Header().Get("X-Node") != "a" || w.Header().Get("Retry-After") != "1" {
		t.Errorf("the 503's other headers: %v", w.Header())
	}
}
