package backup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// CookieName is the session cookie's name (Tomcat's JSESSIONID).
const CookieName = "JSESSIONID"

// ErrResponseCommitted: a session cannot be created once the response has started,
// since its cookie could no longer reach the client.
var ErrResponseCommitted = errors.New("backup: response already started; create sessions before writing")

type ctxKey struct{}

// Request is the session state of one request, from FromContext in a handler that
// Manager.Wrap wraps. Its methods are safe for concurrent use.
type Request struct {
	m  *Manager
	r  *http.Request
	w  *trackWriter
	mu sync.Mutex
	id string // the cookie's session id, then the session's
	s  *Session
	// looked: the cookie's session was looked up.
	looked bool
}

// FromContext returns the request's session state, nil outside Manager.Wrap.
func FromContext(ctx context.Context) *Request {
	r, _ := ctx.Value(ctxKey{}).(*Request)
	return r
}

// Session returns the request's session (Tomcat's getSession(false)): the one its
// JSESSIONID cookie names, fetched from its backup when another node served it last
// (this node becomes its primary); nil when there is none.
func (q *Request) Session() (*Session, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.find()
}

func (q *Request) find() (*Session, error) {
	if q.s != nil || q.looked || q.id == "" {
		return q.s, nil
	}
	q.looked = true
	s, err := q.m.Find(q.r.Context(), q.id)
	if err != nil {
		return nil, fmt.Errorf("backup: session %s: %w", q.id, err)
	}
	q.s = s
	return s, nil
}

// Create returns the request's session, creating one (and setting its cookie) when
// there is none (getSession(true)). Creating fails with ErrResponseCommitted once the
// handler has written the response's header.
func (q *Request) Create() (*Session, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if s, err := q.find(); s != nil || err != nil {
		return s, err
	}
	if q.w.committed() {
		return nil, ErrResponseCommitted
	}
	s, err := q.m.Create(q.r.Context())
	if s == nil {
		return nil, err
	}
	q.s, q.id = s, s.ID()
	http.SetCookie(q.w, &http.Cookie{Name: CookieName, Value: q.id, Path: q.m.cfg.CookiePath, HttpOnly: true,
		Secure: q.r.TLS != nil})
	return s, err
}

// Invalidate removes the request's session from every node; the request has none
// afterwards.
func (q *Request) Invalidate() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.find()
	if s == nil {
		return err
	}
	q.s = nil
	return q.m.Invalidate(q.r.Context(), s.ID())
}

// done ends the request: the session was used now and its changes go to its backup.
func (q *Request) done() {
	q.mu.Lock()
	s := q.s
	q.mu.Unlock()
	if s == nil {
		return
	}
	s.Access()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(q.r.Context()), RPCTimeout)
	defer cancel()
	if err := q.m.Replicate(ctx, s.ID()); err != nil {
		q.m.log.Warn("backup: replicate session", "manager", q.m.cfg.Name, "id", s.ID(), "err", err)
	}
}

// Wrap returns h with sessions: a handler gets the request's with FromContext; when h
// returns, the session was used now and Replicate sends its changes to its backup
// (Tomcat's ReplicationValve), before the wrapped handler returns.
func (m *Manager) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := &Request{m: m, w: &trackWriter{ResponseWriter: w}}
		if c, err := r.Cookie(CookieName); err == nil {
			q.id = c.Value
		}
		q.r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, q))
		defer q.done()
		h.ServeHTTP(q.w, q.r)
	})
}

// trackWriter records whether the response's header was written.
type trackWriter struct {
	http.ResponseWriter
	mu    sync.Mutex
	wrote bool
}

func (w *trackWriter) committed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wrote
}

func (w *trackWriter) mark() {
	w.mu.Lock()
	w.wrote = true
	w.mu.Unlock()
}

func (w *trackWriter) WriteHeader(code int) {
	w.mark()
	w.ResponseWriter.WriteHeader(code)
}

func (w *trackWriter) Write(b []byte) (int, error) {
	w.mark()
	return w.ResponseWriter.Write(b)
}

// Flush sends what was written (http.Flusher), if the underlying writer can.
func (w *trackWriter) Flush() {
	w.mark()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *trackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
