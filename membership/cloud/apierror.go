package cloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// APIError is the error of an answer of the Kubernetes API other than 200 OK. It wraps
// ErrFetch. Its text holds the status and what the answer says about it: the message of
// a Kubernetes Status document (as the API server writes for a 403, "pods is forbidden:
// User … cannot list resource "pods" …", the service account missing a role), else the
// beginning of the body; together at most 256 bytes, control characters and format
// characters (bidi overrides and isolates, zero-width characters) replaced.
type APIError struct {
	// URL is the address asked.
	URL string
	// StatusCode is the HTTP status code.
	StatusCode int
	// Status is the status line's code and text ("403 Forbidden"), clipped.
	Status string
	// Message is the Status document's message, or the body's text if it is no such
	// document, clipped as the error's text; empty for an empty body. At most 4 KiB of
	// the body are read (TestKubernetesErrorBodyReadWithinALimit).
	Message string
}

// Error wraps ErrFetch's text with the request's URL, the status and the clipped message.
func (e *APIError) Error() string {
	what := e.Status
	if e.Message != "" {
		what += ": " + e.Message
	}
	return fmt.Sprintf("%v: GET %s: %s", ErrFetch, e.URL, clipText(what))
}

// Unwrap returns ErrFetch.
func (e *APIError) Unwrap() error { return ErrFetch }

// maxErrorBody bounds what is read of the body of an answer other than 200: a Status
// document is some hundred bytes.
const maxErrorBody = 4096

// apiError reads at most maxErrorBody bytes of body (the rest is not read: the connection
// is then closed, not kept) and makes the error of the answer.
func apiError(url string, code int, status string, body io.Reader) *APIError {
	b, _ := io.ReadAll(io.LimitReader(body, maxErrorBody))
	msg := string(bytes.TrimSpace(b))
	var st struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &st) == nil && st.Kind == "Status" && st.Message != "" {
		msg = st.Message
	}
	return &APIError{URL: url, StatusCode: code, Status: clipText(status), Message: clipText(msg)}
}
