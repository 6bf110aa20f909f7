package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/session/delta"
)

// HTTPConfig configures the middleware. The zero value is Tomcat's defaults except for
// the cookie's Path ("/", where Tomcat uses the context path) and SameSite (Lax, where
// Tomcat sends none) (TestCookieDefaults); the cookie fields are delta.HTTPConfig's.
type HTTPConfig struct {
	// CookieName is the session cookie's name. Empty means "JSESSIONID". A request
	// without a session cookie may name its session in its URL path, as Tomcat's URL
	// session tracking: ";jsessionid=<id>" (";<CookieName>=<id>" for another cookie
	// name), which the middleware removes from the handler's URL.Path and RawPath.
	CookieName string
	// CookiePath is the cookie's Path. Empty means "/" (Tomcat: the context path).
	CookiePath string
	// CookieDomain is the cookie's Domain; empty omits it.
	CookieDomain string
	// CookieSecure sets Secure on the cookie. It is also set for requests that came over
	// TLS.
	CookieSecure bool
	// CookieSameSite is the cookie's SameSite. 0 means http.SameSiteLaxMode;
	// http.SameSiteDefaultMode omits the attribute (Tomcat's default, sameSiteCookies
	// "unset").
	CookieSameSite http.SameSite
	// CookieMaxAge is the cookie's Max-Age in seconds; 0 or negative (Tomcat's default
	// -1) means a browser-session cookie, without Max-Age (TestCookieMaxAgeNegative).
	CookieMaxAge int
	// DisableHTTPOnly leaves HttpOnly off the cookie (on by default, Tomcat's useHttpOnly).
	DisableHTTPOnly bool

	// SkipPath, if set, lets requests whose URL path matches through without any session
	// handling (no Redis call, no cookie): static files, health checks.
	SkipPath *regexp.Regexp
	// Skip, if set, does the same for requests it returns true for.
	Skip func(*http.Request) bool

	// OnError writes the response when the session cannot be loaded (Redis unavailable:
	// the handler does not run) or saved before the response started. Nil means
	// DefaultOnError. The headers the handler set for its own body (Content-Type,
	// Content-Encoding, Content-Disposition, ETag, Cache-Control, ...) and its Set-Cookie
	// are removed before it is called (TestSaveErrorDropsHandlerRepresentationHeaders).
	OnError func(w http.ResponseWriter, r *http.Request, err error)
}

// DefaultOnError answers 409 Conflict for ErrConflict (the client may retry: the
// request's changes were not saved; for ErrSessionGone the body says that the session no
// longer exists, so the retry will have none), 500 for ErrTooLarge, and 503 Service
// Unavailable with Retry-After: 1 for anything else (ErrUnavailable).
func DefaultOnError(w http.ResponseWriter, _ *http.Request, err error) {
	switch {
	case errors.Is(err, ErrSessionGone):
		http.Error(w, "session no longer exists (invalidated, or lost by the session store); its changes were not saved", http.StatusConflict)
	case errors.Is(err, ErrConflict):
		http.Error(w, "session changed concurrently; please retry", http.StatusConflict)
	case errors.Is(err, ErrTooLarge):
		http.Error(w, "session too large", http.StatusInternalServerError)
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "session store unavailable; please retry", http.StatusServiceUnavailable)
	}
}

// Middleware is the net/http side of a Store: it loads the request's session from its
// cookie before the handler runs, exposes it through FromContext, and saves the
// session's changes before the first byte of the response leaves, so that a client that
// got a successful response knows Redis has them.
type Middleware struct {
	st       *Store
	cfg      HTTPConfig
	urlParam string // the path parameter of URL session ids (sessionhttp.URLParamName)
	log      *slog.Logger
}

// NewMiddleware checks cfg and returns a middleware for st. A nil st or a bad cfg is an
// error wrapping ErrInvalidConfig (TestNewMiddlewareNilStore).
func NewMiddleware(st *Store, cfg HTTPConfig) (*Middleware, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil *Store: pass the store New returned", ErrInvalidConfig)
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
	if cfg.OnError == nil {
		cfg.OnError = DefaultOnError
	}
	return &Middleware{st: st, cfg: cfg, urlParam: sessionhttp.URLParamName(cfg.CookieName), log: st.cfg.Logger}, nil
}

// Wrap returns next behind the middleware.
func (mw *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mw.serve(w, r, next) })
}

type ctxKey struct{}

// FromContext returns the session handle of the request whose context this is, or nil
// outside the middleware (or for a skipped URL). The methods of a nil *Request behave as
// those of a request without a session that cannot get one: readers return zero values,
// methods that would change or create a session return delta.ErrNoSession.
func FromContext(ctx context.Context) *Request {
	rq, _ := ctx.Value(ctxKey{}).(*Request)
	return rq
}

func (mw *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	r, urlID := sessionhttp.PathSessionID(r, mw.urlParam)
	if mw.cfg.SkipPath != nil && mw.cfg.SkipPath.MatchString(r.URL.Path) || mw.cfg.Skip != nil && mw.cfg.Skip(r) {
		next.ServeHTTP(w, r)
		return
	}
	rq := &Request{mw: mw, ctx: context.WithoutCancel(r.Context()), tls: r.TLS != nil}
	var loadErr error
	sessionhttp.EachRequestedID(r.Header, mw.cfg.CookieName, urlID, func(id string) bool {
		if rq.requestedID == "" {
			rq.requestedID = id
		}
		s, err := mw.st.load(r.Context(), id, loadGrace)
		switch {
		case err == nil:
			rq.requestedID, rq.s = id, s
			return false
		case errors.Is(err, ErrNotFound):
			return true
		case errors.Is(err, ErrCorrupt):
			mw.log.Warn("redisstore: ignoring a corrupt stored session", "id", id, "err", err)
			return true
		}
		loadErr = err
		return false
	})
	if loadErr != nil {
		mw.log.Warn("redisstore: cannot load the session; answering with an error", "err", loadErr)
		mw.cfg.OnError(w, r, loadErr)
		return
	}
	rw := &responseWriter{Writer: sessionhttp.Writer{ResponseWriter: w, Withheld: ErrNotSaved}, rq: rq, r: r}
	rw.Committer = rw
	next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, rq)))
	rw.finish()
}

// Request is the session side of one HTTP request, from FromContext (delta.Request's
// methods). Its methods are safe for concurrent use by the handler's goroutines while
// the request runs; do not keep it beyond. On a nil *Request (FromContext outside the
// middleware or for a skipped URL) readers return zero values and the other methods
// delta.ErrNoSession, as delta.Request's.
type Request struct {
	mw  *Middleware
	ctx context.Context // for Redis calls: the request's values, not its cancellation
	tls bool

	mu          sync.Mutex
	requestedID string
	s           *Session
	committed   bool
	invalidated bool
	err         error     // a failed invalidation, reported when the response starts
	renewed     time.Time // when the commit saved the session or renewed its TTL
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

// GetOrCreate returns the request's session, creating one if it has none (stored when
// the response starts). A session cannot be created once the response has started
// (ErrResponseCommitted).
func (rq *Request) GetOrCreate() (*Session, error) {
	if rq == nil {
		return nil, delta.ErrNoSession
	}
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if rq.s != nil && rq.s.IsValid() {
		return rq.s, nil
	}
	if rq.committed {
		return nil, ErrResponseCommitted
	}
	rq.s = rq.mw.st.NewSession()
	return rq.s, nil
}

// ID returns the current session id, or "".
func (rq *Request) ID() string { return rq.Session().ID() }

// RequestedID is the session id the client sent, or "".
func (rq *Request) RequestedID() string {
	if rq == nil {
		return ""
	}
	rq.mu.Lock()
	defer rq.mu.Unlock()
	return rq.requestedID
}

// Get returns attribute name of the request's session.
func (rq *Request) Get(name string) (any, bool) { return rq.Session().Get(name) }

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
		return delta.ErrNoSession
	}
	if s := rq.Session(); s != nil {
		return s.Remove(name)
	}
	return nil
}

// Invalidate removes the request's session from Redis at once. The client's cookie is
// cleared unless a new session is created afterwards in the same request. If Redis
// cannot be reached, the error is returned and the response becomes the error
// response (the client must not believe it logged out).
func (rq *Request) Invalidate() error {
	if rq == nil {
		return delta.ErrNoSession
	}
	rq.mu.Lock()
	s := rq.s
	rq.s = nil
	rq.invalidated = s != nil
	rq.mu.Unlock()
	if s == nil {
		return nil
	}
	err := rq.mw.st.Invalidate(rq.ctx, s)
	if err != nil {
		rq.mu.Lock()
		if !rq.committed && rq.err == nil {
			rq.err = err
		}
		rq.mu.Unlock()
	}
	return err
}

// ChangeID gives the request's session a new random id and sends the client the new
// cookie: call it on login (session fixation protection). The stored session moves to
// the new key when the response starts. It must be called before then.
func (rq *Request) ChangeID() (string, error) {
	if rq == nil {
		return "", delta.ErrNoSession
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
	return s.ChangeID()
}

// commit marks the response started, adds the Set-Cookie header it needs and saves the
// session (or renews its TTL if it did not change). It returns the error that must
// replace the response.
func (rq *Request) commit(h http.Header) error {
	rq.mu.Lock()
	rq.committed = true
	s, requested, invalidated, early := rq.s, rq.requestedID, rq.invalidated, rq.err
	rq.mu.Unlock()
	if early != nil {
		return early
	}
	if s != nil && s.IsValid() {
		s.fixID() // before the save and the cookie: a concurrent ChangeID is in both or refused
		if err := rq.store(s); err != nil {
			return err
		}
		rq.mu.Lock()
		rq.renewed = time.Now()
		rq.mu.Unlock()
	}
	cfg := &rq.mw.cfg
	c := http.Cookie{Name: cfg.CookieName, Path: cfg.CookiePath, Domain: cfg.CookieDomain,
		Secure: cfg.CookieSecure || rq.tls, HttpOnly: !cfg.DisableHTTPOnly, SameSite: cfg.CookieSameSite,
		MaxAge: cfg.CookieMaxAge}
	switch {
	case s != nil && s.IsValid():
		if c.Value = s.ID(); c.Value == requested {
			return nil
		}
	case invalidated && requested != "":
		c.MaxAge = -1 // delete the client's cookie
	default:
		return nil
	}
	if v := c.String(); v != "" {
		h.Add("Set-Cookie", v)
	}
	return nil
}

// store saves s if it changed, else renews its TTL (a failure of which is only logged:
// the request read the session and needs nothing written).
func (rq *Request) store(s *Session) error {
	if s.Dirty() {
		return rq.mw.st.Save(rq.ctx, s)
	}
	if err := rq.mw.st.Touch(rq.ctx, s); err != nil {
		rq.mw.log.Warn("redisstore: cannot renew the session's TTL", "id", s.ID(), "err", err)
	}
	return nil
}

// responseWriter holds the response back until the session is saved and adds the
// session cookie before the header leaves.
type responseWriter struct {
	sessionhttp.Writer
	rq *Request
	r  *http.Request
}

// CommitResponse runs once, before the first byte of the response: cookie and save. It
// reports whether the handler's response may proceed.
func (w *responseWriter) CommitResponse(hw http.ResponseWriter) bool {
	err := w.rq.commit(hw.Header())
	if err == nil {
		return true
	}
	w.rq.mw.log.Warn("redisstore: session not saved; answering with an error", "err", err)
	sessionhttp.ClearRepresentation(hw.Header())
	hw.Header().Del("Set-Cookie")
	w.rq.mw.cfg.OnError(hw, w.r, err)
	return false
}

// renewAgainAfter is how long after the commit renewed a session's TTL a handler may
// return before its end renews it again: the idle time of a session counts from the end
// of its last request, as Tomcat's (StandardSession.endAccess), to within the interval's
// granularity of a second, without a second round trip for most requests.
const renewAgainAfter = time.Second

// finish runs when the handler returned: commit if nothing was written, then save the
// changes made after the response started (without the guarantee: a failure is logged),
// or, if the response took long since the commit renewed the session's TTL, renew it
// again.
func (w *responseWriter) finish() {
	if !w.Commit() {
		return
	}
	s := w.rq.Session()
	if s == nil {
		return
	}
	if s.Dirty() {
		if err := w.rq.mw.st.Save(w.rq.ctx, s); err != nil {
			w.rq.mw.log.Warn("redisstore: changes made after the response started were not saved", "id", s.ID(), "err", err)
		}
		return
	}
	w.rq.mu.Lock()
	renewed := w.rq.renewed
	w.rq.mu.Unlock()
	if !renewed.IsZero() && time.Since(renewed) >= renewAgainAfter {
		if err := w.rq.mw.st.Touch(w.rq.ctx, s); err != nil {
			w.rq.mw.log.Warn("redisstore: cannot renew the session's TTL", "id", s.ID(), "err", err)
		}
	}
}
