// Package sessionhttp holds what the session middlewares (session/delta,
// session/redisstore and session/backup) share: a response writer that holds the response back until the
// request's session is stored (replicated, or saved), so that a client that got a
// successful response knows its session's changes are safe.
package sessionhttp

import (
	"bufio"
	"net"
	"net/http"
)

// Committer is what a Writer calls before the response starts.
type Committer interface {
	// CommitResponse runs once, before the first byte of the response leaves: it adds
	// the headers the session needs (its cookie) and stores the session. When storing
	// fails it writes an error response to w itself and returns false: the handler's
	// response is then dropped and its writes fail.
	CommitResponse(w http.ResponseWriter) bool
}

// Writer wraps a handler's http.ResponseWriter: WriteHeader, Write, Flush and Hijack
// call Committer.CommitResponse first (once). Informational 1xx headers pass through.
type Writer struct {
	http.ResponseWriter
	Committer Committer
	// Withheld is what the handler's Write, Flush and Hijack return after a failed
	// commit.
	Withheld error

	committed, failed bool
}

// Commit commits the response if that was not done yet, and reports whether the
// handler's response may proceed.
func (w *Writer) Commit() bool {
	if w.committed {
		return !w.failed
	}
	w.committed = true
	w.failed = !w.Committer.CommitResponse(w.ResponseWriter)
	return !w.failed
}

// Committed reports whether Commit ran.
func (w *Writer) Committed() bool { return w.committed }

// WriteHeader commits, then writes the header unless the commit failed.
func (w *Writer) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational: does not start the response
		return
	}
	if w.Commit() {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *Writer) Write(p []byte) (int, error) {
	if !w.Commit() {
		return 0, w.Withheld
	}
	return w.ResponseWriter.Write(p)
}

// Flush implements http.Flusher.
func (w *Writer) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (w *Writer) FlushError() error {
	if !w.Commit() {
		return w.Withheld
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker (after the commit).
func (w *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.Commit() {
		return nil, nil, w.Withheld
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the other optional methods.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
