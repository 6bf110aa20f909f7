package sessionhttp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// committer counts its calls and answers 503 when told to fail.
type committer struct {
	calls int
	fail  bool
}

func (c *committer) CommitResponse(w http.ResponseWriter) bool {
	c.calls++
	if c.fail {
		http.Error(w, "not stored", http.StatusServiceUnavailable)
		return false
	}
	w.Header().Set("Set-Cookie", "id=1")
	return true
}

var errWithheld = errors.New("withheld")

// A successful commit runs once, before the header.
func TestWriterCommitsOnceBeforeTheResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	c := &committer{}
	w := &Writer{ResponseWriter: rec, Committer: c, Withheld: errWithheld}
	if _, err := w.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if _, err := w.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if !w.Commit() || c.calls != 1 || rec.Body.String() != "ab" || rec.Header().Get("Set-Cookie") != "id=1" {
		t.Fatalf("calls %d, body %q, cookie %q", c.calls, rec.Body.String(), rec.Header().Get("Set-Cookie"))
	}
	if w.Unwrap() != rec {
		t.Error("Unwrap does not return the wrapped writer")
	}
}

// After a failed commit the committer's error response stands: the handler's header
// and writes are dropped, Write, Flush and Hijack return Withheld.
func TestWriterWithholdsAfterAFailedCommit(t *testing.T) {
	rec := httptest.NewRecorder()
	c := &committer{fail: true}
	w := &Writer{ResponseWriter: rec, Committer: c, Withheld: errWithheld}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte("secret")); !errors.Is(err, errWithheld) {
		t.Fatalf("Write: %v", err)
	}
	if err := w.FlushError(); !errors.Is(err, errWithheld) {
		t.Fatalf("Flush: %v", err)
	}
	if _, _, err := w.Hijack(); !errors.Is(err, errWithheld) {
		t.Fatalf("Hijack: %v", err)
	}
	if c.calls != 1 || rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "not stored\n" {
		t.Fatalf("calls %d, response %d %q", c.calls, rec.Code, rec.Body.String())
	}
}

// An informational header (103 Early Hints) passes through a real server without
// committing; the final response commits once.
func TestWriterInformationalHeaderDoesNotCommit(t *testing.T) {
	c := &committer{}
	committedEarly := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(hw http.ResponseWriter, _ *http.Request) {
		w := &Writer{ResponseWriter: hw, Committer: c, Withheld: errWithheld}
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		committedEarly <- w.Committed()
		_, _ = w.Write([]byte("body"))
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close() // the handler has returned
	if <-committedEarly {
		t.Fatal("the 103 header committed")
	}
	if resp.StatusCode != 200 || resp.Header.Get("Set-Cookie") != "id=1" || c.calls != 1 {
		t.Fatalf("response %d cookie %q, %d commits", resp.StatusCode, resp.Header.Get("Set-Cookie"), c.calls)
	}
}

// ClearRepresentation drops what describes the handler's body and keeps the rest.
func TestClearRepresentation(t *testing.T) {
	h := http.Header{}
	for _, k := range representation {
		h.Set(k, "x")
	}
	h.Set("Set-Cookie", "a=1")
	h.Set("Vary", "Cookie")
	ClearRepresentation(h)
	if len(h) != 2 || h.Get("Set-Cookie") != "a=1" || h.Get("Vary") != "Cookie" {
		t.Errorf("left %v", h)
	}
}
