package delta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gotribes/tribes/internal/sessionhttp"
)

// ReadyPolicy says what the middleware does with requests while the manager's state
// transfer is still running.
type ReadyPolicy uint8

const (
	// HoldUntilReady makes requests wait up to HTTPConfig.ReadyTimeout for the manager
	// while it is starting (Start called, state transfer running), then answers 503 if it
	// is still not ready. A manager that is not started or is stopped is not waited for:
	// 503 at once, as RefuseUntilReady. The default.
	HoldUntilReady ReadyPolicy = iota
	// RefuseUntilReady answers 503 at once. Its text says why: "session manager is
	// starting" (the state transfer runs) and "session manager is not started" (Start not
	// called yet), both with Retry-After (ReadyTimeout in seconds), or "session manager
	// is stopped" (after Stop or Cluster.Close; no Retry-After).
	RefuseUntilReady
	// ServeBeforeReady serves at once, with whatever sessions have arrived so far (none,
	// and Create fails with ErrStopped, when the manager is not started or is stopped).
	ServeBeforeReady
)

// DefaultReadyTimeout is how long HoldUntilReady holds a request.
const DefaultReadyTimeout = 10 * time.Second

// HTTPConfig configures the middleware. The zero value is Tomcat's defaults.
type HTTPConfig struct {
	// CookieName is the session cookie's name. Empty means "JSESSIONID". A request
	// without a session cookie may name its session in its URL path, as Tomcat's URL
	// session tracking: ";jsessionid=<id>" (";<CookieName>=<id>" for another cookie
	// name), which the middleware removes from the handler's URL.Path and RawPath
	// (TestURLSessionID).
	CookieName string
	// CookiePath is the cookie's Path. Empty means "/", where Tomcat's default is the
	// context path (Context sessionCookiePath): beside Tomcat nodes serving /app, set it
	// to "/app", or a client that moves between the two holds two JSESSIONID cookies.
	CookiePath string
	// CookieDomain is the cookie's Domain; empty omits it.
	CookieDomain string
	// CookieSecure sets Secure on the cookie. It is also set for requests that came over
	// TLS.
	CookieSecure bool
	// CookieSameSite is the cookie's SameSite. 0 means http.SameSiteLaxMode;
	// http.SameSiteDefaultMode omits the attribute (Tomcat's default, its cookie
	// processor's sameSiteCookies "unset").
	CookieSameSite http.SameSite
	// CookieMaxAge is the cookie's Max-Age in seconds; 0 or negative (Tomcat's default
	// -1) means a browser-session cookie, without Max-Age (TestCookieMaxAgeNegative).
	CookieMaxAge int
	// DisableHTTPOnly leaves HttpOnly off the cookie (it is on by default, as Tomcat's
	// useHttpOnly).
	DisableHTTPOnly bool

	// SkipPath, if set, lets requests whose URL path matches through without any session
	// handling (no lookup, no cookie, no replication): static files, health checks.
	// Tomcat's ReplicationValve filter.
	SkipPath *regexp.Regexp
	// Skip, if set, does the same for requests it returns true for.
	Skip func(*http.Request) bool

	// DisableJvmRouteBinder turns off the jvmRoute binding: by default a request whose
	// session id ends in another node's route (after a failover) gets its session renamed
	// to this node's route, the cluster told, and a new cookie. A request still carrying
	// an id from before such a rename (its client never got the new cookie, because the
	// node that renamed died or answered with an error) finds the session under any route
	// seen in the cluster.
	DisableJvmRouteBinder bool

	// NotReady is what happens to requests while the manager is not ready.
	NotReady ReadyPolicy
	// ReadyTimeout bounds HoldUntilReady. 0 means DefaultReadyTimeout.
	ReadyTimeout time.Duration

	// OnReplicationError writes the response when acked replication fails before the
	// response started. Nil means 503 Service Unavailable with a short text. The headers
	// the handler set for its own body (Content-Type, Content-Encoding,
	// Content-Disposition, ETag, Cache-Control, ...) are removed before it is called
	// (TestReplicationErrorDropsHandlerRepresentationHeaders).
	OnReplicationError func(w http.ResponseWriter, r *http.Request, err error)
}

// ErrResponseCommitted: a session cannot be created, nor its id changed, once the
// response has started, because the cookie could no longer reach the client.
var ErrResponseCommitted = errors.New("delta: response already started; create sessions and change ids before writing")

// ErrNotReplicated is returned by the response writer's Write after acked replication
// failed: the response was replaced by an error.
var ErrNotReplicated = errors.New("delta: response withheld because session replication failed")

// Middleware is the net/http side of a Manager (Tomcat's ReplicationValve and
// JvmRouteBinderValve): it finds the request's session from its cookie, exposes it to
// the handler through FromContext, sets the cookie, and replicates the session's changes
// when the request ends. With acked replication it replicates before the first byte of
// the response leaves, so a client that got a successful response knows every member
// has its changes.
type Middleware struct {
	m        *Manager
	cfg      HTTPConfig
	urlParam string // the path parameter of URL session ids (sessionhttp.URLParamName)
	acked    bool
	log      func(msg string, args ...any)
}

// NewMiddleware checks cfg and returns a middleware for m. A nil m or a bad cfg is an
// error wrapping ErrInvalidConfig (TestNewMiddlewareNilManager).
func NewMiddleware(m *Manager, cfg HTTPConfig) (*Middleware, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil *Manager: pass the manager Cluster.NewManager returned", ErrInvalidConfig)
	}
	if cfg.CookieName == "" {
		cfg.CookieName = "JSESSIONID"
	}
	if (&http.Cookie{Name: cfg.CookieName, Value: "x"}).Valid() != nil {
		return nil, fmt.Errorf("%w: invalid cookie name %q", ErrInvalidConfig, cfg.CookieName)
	}
	if cfg.CookiePath == "" {
		cfg.CookiePath = "/"
	}
	if cfg.CookieSameSite == 0 {
		cfg.CookieSameSite = http.SameSiteLaxMode
	}
	cfg.CookieMaxAge = max(cfg.CookieMaxAge, 0) // net/http writes a negative MaxAge as Max-Age=0
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.NotReady > ServeBeforeReady {
		return nil, fmt.Errorf("%w: unknown ReadyPolicy %d", ErrInvalidConfig, cfg.NotReady)
	}
	if cfg.OnReplicationError == nil {
		cfg.OnReplicationError = func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "session replication failed; please retry", http.StatusServiceUnavailable)
		}
	}
	return &Middleware{m: m, cfg: cfg, urlParam: sessionhttp.URLParamName(cfg.CookieName), acked: m.opts.IsSyncAck(),
		log: m.log.Warn}, nil
}

// Wrap returns next behind the middleware.
func (mw *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.serve(w, r, next)
	})
}

type ctxKey struct{}

// FromContext returns the session handle of the request whose context this is, or nil
// outside the middleware (or for a skipped URL). The methods of a nil *Request behave as
// those of a request without a session that cannot get one: readers return zero values,
// methods that would change or create a session return ErrNoSession.
func FromContext(ctx context.Context) *Request {
	rq, _ := ctx.Value(ctxKey{}).(*Request)
	return rq
}

// requestState is what the middleware allocates per request.
type requestState struct {
	rq       Request
	rw       responseWriter
	ctx      requestContext
	detached detachedContext
}

// detachedContext is what context.WithoutCancel makes, without its own allocation: the
// request's values, never done.
type detachedContext struct{ parent context.Context }

func (detachedContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (detachedContext) Done() <-chan struct{}       { return nil }
func (detachedContext) Err() error                  { return nil }
func (c *detachedContext) Value(key any) any        { return c.parent.Value(key) }

// requestContext is the handler's request context: the original one with the session
// handle under ctxKey (what context.WithValue would make, without its own allocation).
type requestContext struct {
	context.Context
	rq *Request
}

func (c *requestContext) Value(key any) any {
	if key == (ctxKey{}) {
		return c.rq
	}
	return c.Context.Value(key)
}

func (mw *Middleware) skip(r *http.Request) bool {
	return mw.cfg.SkipPath != nil && mw.cfg.SkipPath.MatchString(r.URL.Path) ||
		mw.cfg.Skip != nil && mw.cfg.Skip(r)
}

func (mw *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	r, urlID := sessionhttp.PathSessionID(r, mw.urlParam)
	if mw.skip(r) {
		next.ServeHTTP(w, r)
		return
	}
	if !mw.m.Ready() && mw.cfg.NotReady != ServeBeforeReady {
		if mw.cfg.NotReady == HoldUntilReady && mw.m.starting() {
			ctx, cancel := context.WithTimeout(r.Context(), mw.cfg.ReadyTimeout)
			_ = mw.m.WaitReady(ctx)
			cancel()
		}
		if !mw.m.Ready() {
			mw.notReady(w)
			return
		}
	}
	// One allocation for the request's session state, its response writer and the
	// context that carries it to the handler.
	st := &requestState{rq: Request{mw: mw, tls: r.TLS != nil}, detached: detachedContext{r.Context()}}
	rq := &st.rq
	rq.ctx = &st.detached
	rq.bind(r, urlID)
	if rq.stale {
		mw.m.stats.staleRefused.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "this node lacks the quorum: its copy of the session may be stale", http.StatusServiceUnavailable)
		return
	}
	st.rw = responseWriter{Writer: sessionhttp.Writer{ResponseWriter: w, Withheld: ErrNotReplicated}, rq: rq}
	st.rw.Committer = &st.rw
	st.ctx = requestContext{Context: r.Context(), rq: rq}
	r = r.WithContext(&st.ctx)
	rw := &st.rw
	rw.r = r
	done := false
	defer func() {
		if !done { // the handler panicked: keep the cluster consistent, leave the response alone
			if err := rq.replicate(true); err != nil {
				mw.log("delta: replication after a panic failed", "err", err)
			}
			rq.endAccess()
		}
	}()
	next.ServeHTTP(rw, r)
	done = true
	rw.finish()
}

// notReady answers 503 for a manager that is not ready: "session manager is starting"
// (with Retry-After) while its state transfer runs, "session manager is not started"
// (Retry-After too) before Start, "session manager is stopped" after Stop.
func (mw *Middleware) notReady(w http.ResponseWriter) {
	msg := "session manager is starting"
	switch mw.m.lifecycleState() {
	case stateStopped:
		http.Error(w, "session manager is stopped", http.StatusServiceUnavailable)
		return
	case stateNew:
		msg = "session manager is not started"
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(mw.cfg.ReadyTimeout/time.Second))))
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// Request is the session side of one HTTP request, from FromContext. Its methods are safe
// for concurrent use by the handler's goroutines while the request runs; do not keep it
// beyond. On a nil *Request (FromContext outside the middleware or for a skipped URL)
// readers return zero values and the other methods ErrNoSession.
type Request struct {
	mw  *Middleware
	ctx context.Context // for replication: the request's values, not its cancellation
	tls bool

	mu          sync.Mutex
	requestedID string
	originalID  string
	s           *Session
	committed   bool
	invalidated bool
	stale       bool  // its session's copy here may be stale: the node lacks the quorum
	err         error // replication errors before the response started
}

// bind finds the request's session: the first cookie (of the first
// sessionhttp.MaxCookies with a valid id) naming a session this node has, or, without a
// session cookie, the URL's id (urlID), renamed to the local route if it came from
// another node. While the node lacks the quorum, a request naming a session id is stale.
func (rq *Request) bind(r *http.Request, urlID string) {
	m, cfg := rq.mw.m, &rq.mw.cfg
	route := m.cfg.JvmRoute
	binder := route != "" && !cfg.DisableJvmRouteBinder
	now := nowMs()
	var first string
	sessionhttp.EachRequestedID(r.Header, cfg.CookieName, urlID, func(v string) bool {
		if first == "" {
			first = v
		}
		s := m.findAt(v, now)
		if s == nil && binder {
			// Renamed by a binder: to this node's route by an earlier request, or to
			// another node's route by a request whose response never reached the client
			// (that node died after telling the cluster, or its acked replication failed).
			s = m.findRerouted(v)
		}
		if s != nil {
			rq.requestedID, rq.s = v, s
			return false
		}
		return true
	})
	if rq.s == nil {
		rq.requestedID = first
		// Without the quorum, or before its refresh, this node cannot tell an id it does
		// not hold from one it lacks: a session made or renamed on the majority's side, or
		// a copy the refresh has not brought yet. Served without it, the handler could make
		// a new session, whose cookie would replace the client's
		// (TestNoQuorumRefusesAnIdNotHeld).
		rq.stale = first != "" && m.lacksQuorum()
		return
	}
	if m.lacksQuorum() {
		rq.s, rq.stale = nil, true
		return
	}
	if binder {
		if cur := rq.s.ID(); sessionhttp.RouteOf(cur) != "" && sessionhttp.RouteOf(cur) != route {
			_, renamed, err := m.renameSession(rq.ctx, rq.s, sessionhttp.WithRoute(cur, route))
			switch {
			case errors.Is(err, ErrSessionIDInUse) || errors.Is(err, ErrInvalidSession):
				rq.s = m.Find(sessionhttp.WithRoute(cur, route))
			case err != nil:
				rq.err = err // renamed here, not replicated to every member
			}
			if renamed {
				m.rerouted(sessionhttp.RouteOf(cur))
			}
		}
	}
	if rq.s != nil {
		if rq.s.ID() != rq.requestedID {
			rq.originalID = rq.requestedID
		}
		rq.s.accessAt(now)
	}
}

// Session returns the request's session, or nil if it has none.
func (rq *Request) Session() *Session {
	if rq == nil {
		return nil
	}
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if rq.s != nil && !rq.s.IsValid() {
		rq.s = nil
	}
	return rq.s
}

// GetOrCreate returns the request's session, creating one if it has none. A session
// cannot be created once the response has started (ErrResponseCommitted).
func (rq *Request) GetOrCreate() (*Session, error) {
	if rq == nil {
		return nil, ErrNoSession
	}
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if rq.s != nil && rq.s.IsValid() {
		return rq.s, nil
	}
	if rq.committed {
		return nil, ErrResponseCommitted
	}
	s, err := rq.mw.m.Create(rq.ctx)
	if err != nil {
		return nil, err
	}
	s.Access()
	rq.s = s
	return s, nil
}

// ID returns the current session id, or "".
func (rq *Request) ID() string {
	if s := rq.Session(); s != nil {
		return s.ID()
	}
	return ""
}

// RequestedID is the session id the client sent, or "".
func (rq *Request) RequestedID() string {
	if rq == nil {
		return ""
	}
	rq.mu.Lock()
	defer rq.mu.Unlock()
	return rq.requestedID
}

// OriginalID is the id the client sent when the jvmRoute binding renamed its session
// (Tomcat's request attribute JvmRouteOriginalSessionID), or "".
func (rq *Request) OriginalID() string {
	if rq == nil {
		return ""
	}
	rq.mu.Lock()
	defer rq.mu.Unlock()
	return rq.originalID
}

// Get returns attribute name of the request's session.
func (rq *Request) Get(name string) (any, bool) {
	s := rq.Session()
	if s == nil {
		return nil, false
	}
	return s.Get(name)
}

// Set sets attribute name, creating the session if needed.
func (rq *Request) Set(name string, v any) error {
	s, err := rq.GetOrCreate()
	if err != nil {
		return err
	}
	return s.Set(name, v)
}

// Remove removes attribute name from the request's session, if it has one.
func (rq *Request) Remove(name string) error {
	if rq == nil {
		return ErrNoSession
	}
	if s := rq.Session(); s != nil {
		return s.Remove(name)
	}
	return nil
}

// Invalidate destroys the request's session on every node. The client's cookie is
// cleared unless a new session is created afterwards in the same request.
func (rq *Request) Invalidate() error {
	if rq == nil {
		return ErrNoSession
	}
	rq.mu.Lock()
	s := rq.s
	rq.s = nil
	rq.invalidated = s != nil
	rq.mu.Unlock()
	if s == nil {
		return nil
	}
	err := rq.mw.m.Invalidate(rq.ctx, s)
	rq.noteErr(err)
	return err
}

// ChangeID gives the request's session a new random id on every node and sends the
// client the new cookie: call it on login (session fixation protection). It must be
// called before the response starts. After an error wrapping a *channel.SendError or
// ErrNoQuorum the session has its new id here, and in the cookie, though not on every
// member yet (Manager.ChangeSessionID): the rename is never refused for renames not
// sent yet, so a handler that logs the user in regardless does so under the new id
// (TestLoginIgnoringErrorsNeverUnderTheOldID).
func (rq *Request) ChangeID() (string, error) {
	if rq == nil {
		return "", ErrNoSession
	}
	rq.mu.Lock()
	s, committed := rq.s, rq.committed
	rq.mu.Unlock()
	if s == nil {
		return "", ErrInvalidSession
	}
	if committed {
		return "", ErrResponseCommitted
	}
	id, err := rq.mw.m.ChangeSessionID(rq.ctx, s, "")
	rq.noteErr(err)
	return id, err
}

func (rq *Request) noteErr(err error) {
	if err == nil {
		return
	}
	rq.mu.Lock()
	if !rq.committed && rq.err == nil {
		rq.err = err
	}
	rq.mu.Unlock()
}

// commitCookie marks the response started and adds the Set-Cookie header it needs.
func (rq *Request) commitCookie(h http.Header) {
	rq.mu.Lock()
	rq.committed = true
	s, requested, invalidated := rq.s, rq.requestedID, rq.invalidated
	rq.mu.Unlock()
	cfg := &rq.mw.cfg
	c := http.Cookie{Name: cfg.CookieName, Path: cfg.CookiePath, Domain: cfg.CookieDomain,
		Secure: cfg.CookieSecure || rq.tls, HttpOnly: !cfg.DisableHTTPOnly, SameSite: cfg.CookieSameSite,
		MaxAge: cfg.CookieMaxAge}
	switch {
	case s != nil && s.IsValid():
		id := s.ID()
		if id == requested {
			return
		}
		c.Value = id
	case invalidated && requested != "":
		c.MaxAge = -1 // delete the client's cookie
	default:
		return
	}
	if v := c.String(); v != "" {
		h.Add("Set-Cookie", v)
	}
}

// replicate sends the session's changes; it also returns an earlier replication error of
// the request (id change, invalidation) once. Without wait, asynchronous replication
// with BinaryCodec only queues them (Manager.replicate).
func (rq *Request) replicate(wait bool) error {
	rq.mu.Lock()
	s, early := rq.s, rq.err
	rq.err = nil
	rq.mu.Unlock()
	var err error
	if s != nil {
		err = rq.mw.m.replicate(rq.ctx, s, wait)
	}
	return errors.Join(early, err)
}

func (rq *Request) endAccess() {
	rq.mu.Lock()
	s := rq.s
	rq.mu.Unlock()
	if s == nil {
		return
	}
	s.endRequest()
}

// responseWriter holds the response back until the session is replicated (acked mode)
// and adds the session cookie before the header leaves.
type responseWriter struct {
	sessionhttp.Writer
	rq *Request
	r  *http.Request
}

// CommitResponse runs once, before the first byte of the response: cookie, then (acked)
// replication. It reports whether the handler's response may proceed.
func (w *responseWriter) CommitResponse(hw http.ResponseWriter) bool {
	w.rq.commitCookie(hw.Header())
	if !w.rq.mw.acked {
		return true
	}
	if err := w.rq.replicate(true); err != nil {
		w.rq.mw.log("delta: acked replication failed; answering with an error", "err", err)
		sessionhttp.ClearRepresentation(hw.Header())
		w.rq.mw.cfg.OnReplicationError(hw, w.r, err)
		return false
	}
	return true
}

// finish runs when the handler returned: commit if nothing was written (replicating in
// acked mode, or answering the error), then replicate what is still pending (everything
// in async mode; changes made after the response started in acked mode).
func (w *responseWriter) finish() {
	if !w.Committed() && !w.Commit() {
		w.rq.endAccess()
		return
	}
	if err := w.rq.replicate(w.rq.mw.acked); err != nil {
		w.rq.mw.log("delta: replication failed", "err", err)
	}
	w.rq.endAccess()
}
