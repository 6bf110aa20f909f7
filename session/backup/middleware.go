package backup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/session/delta"
)

// CookieName is the session cookie's name (Tomcat's JSESSIONID). A request without it
// may name its session in its URL path, ";jsessionid=<id>", as Tomcat's URL session
// tracking; Wrap removes it from the handler's URL.Path and RawPath.
const CookieName = "JSESSIONID"

// urlParam is the path parameter of URL session ids.
var urlParam = sessionhttp.URLParamName(CookieName)

// ErrResponseCommitted: a session cannot be created once the response has started,
// since its cookie could no longer reach the client.
var ErrResponseCommitted = errors.New("backup: response already started; create sessions before writing")

// ErrNotReplicated is what the handler's writes return after its session's changes could
// not reach the backup: the middleware answered 503 Service Unavailable instead.
var ErrNotReplicated = errors.New("backup: session not replicated; the response was replaced by an error")

type ctxKey struct{}

// Request is the session state of one request, from FromContext in a handler that
// Manager.Wrap wraps. Its methods are safe for concurrent use. On a nil *Request
// (FromContext outside Manager.Wrap) Session, Create and Invalidate return
// delta.ErrNoSession and OriginalID "", as delta.Request's methods.
type Request struct {
	m  *Manager
	r  *http.Request
	w  *sessionhttp.Writer
	mu sync.Mutex
	id string // the cookie's session id (the first of several) or the URL's, then the session's
	// urlID is the session id of the URL's path parameter (sessionhttp.PathSessionID).
	urlID string
	s     *Session
	// looked: the cookie's session was looked up.
	looked bool
	// original is the cookie's session id when the jvmRoute binding renamed the session.
	original string
	// held are the sessions the request holds (Session.hold), released when it ends.
	held []*Session
}

// use makes s the request's session and holds it until the request ends, q.mu held. It
// reports false, s not the request's, when the manager found s expired and is removing
// it (Session.hold).
func (q *Request) use(s *Session) bool {
	if !s.hold() {
		return false
	}
	q.s = s
	q.held = append(q.held, s)
	return true
}

// FromContext returns the request's session state, nil outside Manager.Wrap (whose
// methods return delta.ErrNoSession).
func FromContext(ctx context.Context) *Request {
	r, _ := ctx.Value(ctxKey{}).(*Request)
	return r
}

// Session returns the request's session (Tomcat's getSession(false)): the one its
// JSESSIONID cookie names, fetched from its backup when another node served it last
// (this node becomes its primary); nil when there is none.
func (q *Request) Session() (*Session, error) {
	if q == nil {
		return nil, delta.ErrNoSession
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.find()
}

func (q *Request) find() (*Session, error) {
	if q.s != nil || q.looked || q.id == "" {
		return q.s, nil
	}
	q.looked = true
	var s *Session
	var err error
	sessionhttp.EachRequestedID(q.r.Header, CookieName, q.urlID, func(id string) bool {
		s, err = q.lookup(id)
		// Held from now on, the rename and its listeners included: the session does not
		// expire under the request (TestSessionHeldDuringBinderRename). One the sweep
		// found expired after the lookup is none (TestSweepCheckAndRemoveAtomic).
		if s != nil && err == nil && !q.use(s) {
			s = nil
		}
		if s != nil && err == nil {
			q.id = id
		}
		return s == nil && err == nil
	})
	if s == nil || err != nil {
		return nil, err
	}
	route := q.m.cfg.JvmRoute
	if route != "" && !q.m.cfg.DisableJvmRouteBinder && !q.w.Committed() {
		if cur := s.ID(); sessionhttp.RouteOf(cur) != "" && sessionhttp.RouteOf(cur) != route {
			// Tomcat's JvmRouteBinderValve: the balancer failed over to this node; rename
			// the session to this node's route so that it stays here.
			if err := q.m.ChangeSessionID(q.r.Context(), s, sessionhttp.WithRoute(cur, route)); err != nil && !errors.Is(err, ErrIDTaken) {
				q.m.log.Warn("backup: rename session to this node's route", "manager", q.m.cfg.Name, "id", cur, "err", err)
			}
		}
		if s.ID() != q.id {
			q.original, q.id = q.id, s.ID()
			q.setCookie()
		}
	}
	return s, nil
}

// lookup finds the session of one of the request's cookies: under its id or, with the
// jvmRoute binding and before the response started, under the other routes it may have
// been renamed to.
func (q *Request) lookup(id string) (*Session, error) {
	ctx := q.r.Context()
	s, err := q.m.Find(ctx, id)
	if s == nil && err == nil && sessionhttp.RouteOf(id) != "" && q.m.cfg.JvmRoute != "" &&
		!q.m.cfg.DisableJvmRouteBinder && !q.w.Committed() {
		// Renamed by a binder, whose new cookie did not reach the client: here by an
		// earlier request, or by another node a request failed over to, which died (or
		// answered with an error) before its response left; the id's route may be this
		// node's, the balancer sending the client back to it (TestOldIDBackToItsOwnNode).
		// Once the response has started, a new cookie could no longer reach the client.
		s, err = q.m.findRenamed(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: session %s: %w", id, err)
	}
	return s, nil
}

// OriginalID is the id the client sent when the jvmRoute binding renamed its session
// (Tomcat's request attribute JvmRouteOriginalSessionID), or "".
func (q *Request) OriginalID() string {
	if q == nil {
		return ""
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.original
}

func (q *Request) setCookie() {
	http.SetCookie(q.w, &http.Cookie{Name: CookieName, Value: q.id, Path: q.m.cfg.CookiePath, HttpOnly: true,
		Secure: q.r.TLS != nil})
}

// Create returns the request's session, creating one (and setting its cookie) when
// there is none (getSession(true)). Creating fails with ErrResponseCommitted once the
// handler has written the response's header.
func (q *Request) Create() (*Session, error) {
	if q == nil {
		return nil, delta.ErrNoSession
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if s, err := q.find(); s != nil || err != nil {
		return s, err
	}
	if q.w.Committed() {
		return nil, ErrResponseCommitted
	}
	s, err := q.m.Create(q.r.Context())
	if s == nil {
		return nil, err
	}
	q.use(s) // new: nothing ended it
	q.id = s.ID()
	q.setCookie()
	return s, err
}

// Invalidate removes the request's session from every node; the request has none
// afterwards. The session's listeners are told (Config.NamedListener), outside the
// request's lock.
func (q *Request) Invalidate() error {
	if q == nil {
		return delta.ErrNoSession
	}
	q.mu.Lock()
	s, err := q.find()
	q.s = nil
	q.mu.Unlock()
	if s == nil {
		return err
	}
	// The listeners hear of the session the request holds even when another node took
	// it over meanwhile, leaving a proxy here (TestInvalidateAfterTakeoverTellsListeners).
	return q.m.invalidate(q.r.Context(), s.ID(), s)
}

// CommitResponse runs before the first byte of the response leaves (sessionhttp): the
// session was used now and its changes go to its backup, so that a client that got a
// response knows they are on two nodes. When they cannot be sent it answers 503 and
// drops the handler's response.
func (q *Request) CommitResponse(w http.ResponseWriter) bool {
	if q == nil {
		return true // no middleware, no session
	}
	if err := q.replicate(true); err != nil {
		sessionhttp.ClearRepresentation(w.Header())
		http.Error(w, "session not replicated", http.StatusServiceUnavailable)
		return false
	}
	return true
}

// replicate sends the session's changes to its backup (Tomcat's ReplicationValve and
// BackupManager.requestCompleted), marking it used first when access is set.
func (q *Request) replicate(access bool) error {
	q.mu.Lock()
	s := q.s
	q.mu.Unlock()
	if s == nil {
		return nil
	}
	if access {
		s.Access()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(q.r.Context()), RPCTimeout)
	defer cancel()
	err := q.m.Replicate(ctx, s.ID())
	if err == nil {
		err = q.m.servedHere(s)
	}
	if err != nil {
		q.m.log.Warn("backup: replicate session", "manager", q.m.cfg.Name, "id", s.ID(), "err", err)
	}
	return err
}

// done ends the request: it commits the response if the handler wrote nothing, then
// sends the changes made after the response started.
func (q *Request) done() {
	defer func() {
		q.mu.Lock()
		held := q.held
		q.held = nil
		q.mu.Unlock()
		for _, s := range held {
			s.release()
		}
	}()
	if !q.w.Committed() && !q.w.Commit() {
		return
	}
	_ = q.replicate(false)
}

// Wrap returns h with sessions: a handler gets the request's with FromContext; before
// the response starts (or when h returns without writing), the session was used now and
// Replicate sends its changes to its backup (Tomcat's ReplicationValve); if that fails,
// the client gets 503 instead of h's response. Changes made after the response started
// are sent when h returns.
func (m *Manager) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, urlID := sessionhttp.PathSessionID(r, urlParam)
		q := &Request{m: m, urlID: urlID}
		q.w = &sessionhttp.Writer{ResponseWriter: w, Committer: q, Withheld: ErrNotReplicated}
		sessionhttp.EachRequestedID(r.Header, CookieName, urlID, func(id string) bool {
			q.id = id // the first: a request whose cookies name no session has this id
			return false
		})
		q.r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, q))
		defer q.done()
		h.ServeHTTP(q.w, q.r)
	})
}
