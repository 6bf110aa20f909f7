package sso

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/ctxwait"
	"github.com/gotribes/tribes/internal/sessionhttp"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/session/delta"
)

// Defaults (Tomcat's ClusterSingleSignOn and SingleSignOn names beside them).
const (
	// DefaultMapName is the map of a cluster in Tomcat's Engine "Catalina":
	// "<cluster name>-SSO-cache", the cluster's name being its container's by default.
	DefaultMapName = "Catalina-SSO-cache"
	// DefaultCookieName is the single sign-on cookie (Constants.SINGLE_SIGN_ON_COOKIE).
	DefaultCookieName = "JSESSIONIDSSO"
	// RPCTimeout is ClusterSingleSignOn's rpcTimeout (15 s).
	RPCTimeout = 15 * time.Second
	// AccessTimeout is ClusterSingleSignOn's accessTimeout (5 s).
	AccessTimeout = 5 * time.Second
	// SendOptions is ClusterSingleSignOn's mapSendOptions (USE_ACK|SYNC_ACK).
	SendOptions = channel.OptUseAck | channel.OptSyncAck
)

// Config configures an SSO. Channel is required.
type Config struct {
	// Channel carries the map (started before Start).
	Channel *channel.Channel
	// MapName is the replicated map of the entries: "<cluster name>-SSO-cache" on the
	// Tomcat nodes (the cluster's clusterName, by default its container's name: the
	// Engine's, "Catalina", or the Host's). Empty means DefaultMapName.
	MapName string
	// CookieName; empty means DefaultCookieName.
	CookieName string
	// CookiePath is the cookie's path (SingleSignOn's cookie is set for "/"). Empty
	// means "/".
	CookiePath string
	// CookieDomain is the cookie's domain (SingleSignOn cookieDomain); empty sets none.
	CookieDomain string
	// Limits bound the map (see replmap.Config); zero fields take replmap's defaults.
	MaxEntries     int
	MaxStoredBytes int64
	// SignedOff, if set, is called with every entry that leaves the map: signed off by
	// this node (Deregister, Logout; on the caller's goroutine, with its context, the
	// error joined to theirs) or by a member (a Tomcat logout, or another Go node's; on a
	// goroutine of the SSO, with a context that Stop cancels, the error logged; a Stop
	// called with that context returns ErrStopping at once; at most MaxSignedOffCalls at
	// once, the member's further removals waiting). It ends
	// the application sessions of e.SessionKeys() that this node serves, as Tomcat's
	// deregister expires those of its own contexts; ExpireSessions does it for
	// session/delta managers. No Java attribute.
	SignedOff func(ctx context.Context, id string, e *Entry) error
	// Logger; nil discards.
	Logger *slog.Logger
}

// SSO shares single sign-on with Tomcat's ClusterSingleSignOn: the signed-on users live
// in a replicated map (every node holds every entry) under the id their cookie carries.
type SSO struct {
	cfg Config
	m   *replmap.Map

	bg      context.Context // the SignedOff calls of members' removals; Stop cancels it
	stopBg  context.CancelFunc
	offCtx  context.Context // bg marked (signedOffMark): the context of those calls
	mu      sync.Mutex
	stopped bool // no more SignedOff calls start
	wg      sync.WaitGroup
	slots   chan struct{} // the SignedOff calls of members' removals running (MaxSignedOffCalls)
}

// New returns an SSO for cfg; it joins the map at Start.
func New(cfg Config) (*SSO, error) {
	if cfg.Channel == nil {
		return nil, fmt.Errorf("%w: sso.Config.Channel is required", channel.ErrInvalidConfig)
	}
	if cfg.MapName == "" {
		cfg.MapName = DefaultMapName
	}
	if cfg.CookieName == "" {
		cfg.CookieName = DefaultCookieName
	}
	if cfg.CookiePath == "" {
		cfg.CookiePath = "/"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &SSO{cfg: cfg, slots: make(chan struct{}, MaxSignedOffCalls)}
	s.bg, s.stopBg = context.WithCancel(context.Background())
	s.offCtx = context.WithValue(s.bg, signedOffMark{s}, true)
	mcfg := replmap.Config{Channel: cfg.Channel, Name: cfg.MapName, Replicated: true,
		RPCTimeout: RPCTimeout, AccessTimeout: AccessTimeout, SendOptions: SendOptions, Values: Codec{},
		MaxEntries: cfg.MaxEntries, MaxStoredBytes: cfg.MaxStoredBytes, Logger: cfg.Logger}
	if cfg.SignedOff != nil {
		mcfg.Removed = s.removed
	}
	m, err := replmap.New(mcfg)
	if err != nil {
		return nil, err
	}
	s.m = m
	return s, nil
}

// Start joins the map: the entries the members hold are copied here.
func (s *SSO) Start(ctx context.Context) error { return s.m.Start(ctx) }

// ErrStopping is returned by a Stop called, with the call's context, from a SignedOff
// call of a member's removal: Stop waits for those calls, and that one waits for Stop.
var ErrStopping = errors.New("sso: Stop called from a SignedOff call, which Stop waits for")

// signedOffMark is the key of the value that marks the context of the SignedOff calls of
// members' removals.
type signedOffMark struct{ s *SSO }

// Stop leaves the map, and waits for the SignedOff calls of members' removals (their
// context is cancelled) until ctx ends: a call still running then is left to finish in
// the background, and Stop returns an error wrapping ctx.Err(). A later Stop waits for
// such calls again (TestStopHonoursItsContext).
//
// A SignedOff call of a member's removal that Stop would wait for may stop the SSO too:
// a Stop called with the call's context (or one derived from it) leaves the map and ends
// the calls' context as any Stop, but waits for no SignedOff call, its own among them: it
// returns ErrStopping (joined to the map's error) at once, as session/delta's Stop called
// from its own listener does, and a later Stop from elsewhere waits for those calls
// (TestStopFromSignedOffReturns). One called there with another context waits for its
// own call, until that context ends, and with one that never ends for ever: nothing
// tells it from a Stop made elsewhere, which waits for the calls under way; a SignedOff
// that stops the SSO must pass its own context
// (TestStopFromSignedOffWithAnotherContextReturnsAtItsEnd).
func (s *SSO) Stop(ctx context.Context) error {
	err := s.m.Stop(ctx)
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.stopBg()
	if ctx.Value(signedOffMark{s}) != nil {
		return errors.Join(err, ErrStopping)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	if !ctxwait.Done(ctx, done) {
		err = errors.Join(err, fmt.Errorf("sso: stop: SignedOff calls still running: %w", ctx.Err()))
	}
	return err
}

// MaxSignedOffCalls bounds the SignedOff calls of members' removals that run at once;
// a removal beyond waits for one to end (Config.SignedOff).
const MaxSignedOffCalls = 64

// removed is the map's Removed: a member signed a user off. With MaxSignedOffCalls of
// its calls running it waits for one to end (or for Stop), holding the map's calls: past
// their bound (replmap.Config.Removed) the receive of the member's messages waits too,
// where a goroutine and an entry were held per removal
// (TestSignedOffCallsBounded).
func (s *SSO) removed(key, value any) {
	id, _ := key.(string)
	e, ok := value.(*Entry)
	if !ok {
		return
	}
	select {
	case s.slots <- struct{}{}:
	case <-s.bg.Done(): // stopped
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		<-s.slots
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		if err := s.cfg.SignedOff(s.offCtx, id, e); err != nil {
			s.cfg.Logger.Warn("sso: signed off by a member", "id", id, "err", err)
		}
	}()
}

// Map returns the replicated map of the entries.
func (s *SSO) Map() *replmap.Map { return s.m }

// Lookup returns the entry of the single sign-on id, nil if there is none.
func (s *SSO) Lookup(ctx context.Context, id string) (*Entry, error) {
	v, ok, err := s.m.Get(ctx, id)
	if err != nil || !ok {
		return nil, err
	}
	e, ok := v.(*Entry)
	if !ok {
		return nil, fmt.Errorf("%w: %T under %s", ErrBadEntry, v, id)
	}
	return e, nil
}

// Register signs a user on to every node and returns the entry's new id, the value of
// the cookie that carries it (Login sets it).
func (s *SSO) Register(ctx context.Context, e *Entry) (string, error) {
	if e == nil {
		return "", fmt.Errorf("%w: nil *Entry", ErrBadEntry)
	}
	id := newID()
	if _, err := s.m.Put(ctx, id, e); err != nil {
		return "", err
	}
	return id, nil
}

// Deregister signs the user of id off every node: Tomcat nodes no longer authenticate
// requests with its cookie. Config.SignedOff is then called with the entry this node
// held.
func (s *SSO) Deregister(ctx context.Context, id string) error {
	old, err := s.m.Remove(ctx, id)
	if e, ok := old.(*Entry); ok && s.cfg.SignedOff != nil {
		err = errors.Join(err, s.cfg.SignedOff(ctx, id, e))
	}
	return err
}

// ErrNotSignedOn is returned by Associate for an id the map does not hold.
var ErrNotSignedOn = errors.New("sso: no single sign-on entry under this id")

// Associate adds an application session to the entry of id and replicates the entry in
// full (Tomcat's associate, which its authenticator calls when a signed-on user's request
// reaches a context, and the replicate that ClusterSingleSignOn adds): the node that
// signs the user off then ends the session too (Tomcat: if the session is in one of its
// contexts, a context whose sessions Go shares included; Go: Config.SignedOff). A key
// already listed sends nothing. (Put would not do: a ReplicatedMap's put of a present
// key removes it everywhere first, which signs the user off.)
func (s *SSO) Associate(ctx context.Context, id string, k SessionKey) error {
	e, err := s.Lookup(ctx, id) // this node becomes the entry's primary
	if err != nil {
		return err
	}
	if e == nil {
		return fmt.Errorf("%w: %s", ErrNotSignedOn, id)
	}
	if !e.AddSession(k) {
		return nil
	}
	return s.m.Replicate(ctx, id, true)
}

// Associating returns next with Tomcat's association of sessions (its authenticator
// associates the session of every signed-on request): after next, a request that Wrap
// found signed on adds its session, sessionID(r) ("" for none), to the entry as
// SessionKey{ID, contextPath, host} with Associate, unless the entry lists it already;
// a failure is logged. It goes inside Wrap and the session middleware:
// s.Wrap(mw.Wrap(s.Associating(app, "localhost", "/goapp", sessionID))).
func (s *SSO) Associating(next http.Handler, host, contextPath string, sessionID func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		e, id := FromContext(r.Context())
		if e == nil {
			return
		}
		k := SessionKey{ID: sessionID(r), Context: contextPath, Host: host}
		if k.ID == "" || slices.Contains(e.sessionKeys(), k) {
			return
		}
		if err := s.Associate(r.Context(), id, k); err != nil {
			s.cfg.Logger.Warn("sso: associate a session", "id", id, "session", k.ID, "err", err)
		}
	})
}

// AssociateDelta is Associating with the session of a session/delta middleware
// (delta.FromContext): s.Wrap(mw.Wrap(s.AssociateDelta(app, "localhost", "/goapp"))).
// The session it associates also gets the entry's listener (Session.AttachListener with
// the single sign-on id, which travels to Tomcat as its ClusterSingleSignOnListener): with
// Listeners as the manager's delta.Config.NamedListener, the session's end ends the
// sign-on as Tomcat's does.
func (s *SSO) AssociateDelta(next http.Handler, host, contextPath string) http.Handler {
	return s.Associating(next, host, contextPath, func(r *http.Request) string {
		rq := delta.FromContext(r.Context())
		if rq == nil {
			return ""
		}
		ds := rq.Session()
		if ds == nil {
			return ""
		}
		if _, id := FromContext(r.Context()); id != "" {
			if err := ds.AttachListener(id); err != nil {
				s.cfg.Logger.Warn("sso: attach the entry's listener", "id", id, "err", err)
			}
		}
		return ds.ID()
	})
}

// Listeners returns a delta.Config.NamedListener for the manager of context contextPath
// on host: the listener a session attached under a single sign-on id (AssociateDelta,
// or Tomcat's ClusterSingleSignOnListener on a session it shares) ends the sign-on as
// Tomcat's SingleSignOn does. When the session is invalidated on this node (a logout),
// the user is signed off (Deregister, and with it Config.SignedOff); when it times out
// here, it is removed from the entry, and an entry left with no session is deregistered;
// the change is replicated. Sessions destroyed by another node's message or by the
// manager's Stop change nothing. When the session's id changes, on this node (the
// middleware's jvmRoute binder, ChangeSessionID) or by another node's rename
// (Tomcat's changeSessionId, its JvmRouteBinderValve), the entry lists the new id in
// place of the old one (SingleSignOn.sessionChangedId), and the entry is replicated: a
// sign-off then ends the renamed session (TestSignOffAfterIDChange).
func (s *SSO) Listeners(host, contextPath string) func(name string) delta.SessionListener {
	return func(id string) delta.SessionListener {
		return delta.SessionListenerFuncs{IDChanged: func(e delta.SessionEvent, oldID string) {
			if e.Session == nil {
				return
			}
			ctx, cancel := context.WithTimeout(s.bg, RPCTimeout)
			defer cancel()
			k := SessionKey{ID: e.Session.ID(), Context: contextPath, Host: host}
			if err := s.renameSession(ctx, id, SessionKey{ID: oldID, Context: contextPath, Host: host}, k); err != nil {
				s.cfg.Logger.Warn("sso: the id change of a signed-on session", "id", id, "session", k.ID, "err", err)
			}
		}, Destroyed: func(e delta.SessionEvent) {
			if e.Replicated || e.Stopping || e.Session == nil {
				return
			}
			ctx, cancel := context.WithTimeout(s.bg, RPCTimeout)
			defer cancel()
			var err error
			if e.Expired {
				err = s.removeSession(ctx, id, SessionKey{ID: e.Session.ID(), Context: contextPath, Host: host})
			} else {
				err = s.Deregister(ctx, id)
			}
			if err != nil {
				s.cfg.Logger.Warn("sso: the end of a signed-on session", "id", id, "err", err)
			}
		}}
	}
}

// removeSession removes a session that timed out from the entry of id, and deregisters
// an entry left without sessions (SingleSignOn.removeSession); the entry's change is
// replicated, which Tomcat's does not.
func (s *SSO) removeSession(ctx context.Context, id string, k SessionKey) error {
	e, err := s.Lookup(ctx, id)
	if err != nil || e == nil {
		return err
	}
	if !e.RemoveSession(k) {
		return nil
	}
	if e.Sessions() == 0 {
		return s.Deregister(ctx, id)
	}
	return s.m.Replicate(ctx, id, true)
}

// renameSession lists k in place of old in the entry of id, and replicates the entry.
func (s *SSO) renameSession(ctx context.Context, id string, old, k SessionKey) error {
	e, err := s.Lookup(ctx, id)
	if err != nil || e == nil || !e.ReplaceSession(old, k) {
		return err
	}
	return s.m.Replicate(ctx, id, true)
}

// ExpireSessions returns a Config.SignedOff that invalidates, in the manager whose
// Name is the key's ManagerName ("localhost#/app", Tomcat's name of the manager under a
// cluster in the Engine) or its Context ("/app", the name under a cluster in the Host:
// SimpleTcpCluster.getManagerName adds "<host>#" only for an Engine's), each session
// of an entry signed off that the manager holds; the invalidation is replicated as the
// manager's are, to the Tomcat nodes that share its sessions too.
func ExpireSessions(managers ...*delta.Manager) func(ctx context.Context, id string, e *Entry) error {
	return func(ctx context.Context, _ string, e *Entry) error {
		var errs []error
		for _, k := range e.SessionKeys() {
			for _, m := range managers {
				if n := m.Name(); n != k.ManagerName() && n != k.Context {
					continue
				}
				if ds := m.Find(k.ID); ds != nil {
					errs = append(errs, m.Invalidate(ctx, ds))
				}
			}
		}
		return errors.Join(errs...)
	}
}

// newID returns a single sign-on id as Tomcat's session id generator makes them: 16
// random bytes in upper-case hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

type ctxKey struct{}

type signedOn struct {
	id string
	e  *Entry
}

// FromContext returns the entry Wrap found for the request and its id (nil and "" when
// the request carries no cookie of a known entry).
func FromContext(ctx context.Context) (*Entry, string) {
	v, _ := ctx.Value(ctxKey{}).(signedOn)
	return v.e, v.id
}

// cookieID returns the single sign-on id of the request's cookie, "" when it carries
// none or a value that cannot be an id: at most 256 bytes of letters, digits, '.', '-'
// and '_' (Tomcat's ids are 32 upper-case hex digits by default; its id generator can be
// configured).
func (s *SSO) cookieID(r *http.Request) string {
	c, err := r.Cookie(s.cfg.CookieName)
	if err != nil || !sessionhttp.ValidID(c.Value) {
		return ""
	}
	return c.Value
}

// Wrap returns h with the request's single sign-on: the entry its cookie names, if the
// map holds it, for FromContext (Tomcat's SingleSignOn valve sets the request's
// principal from it). A cookie value that cannot be an id (cookieID) is not looked up.
func (s *SSO) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id := s.cookieID(r); id != "" {
			e, err := s.Lookup(r.Context(), id)
			if err != nil {
				s.cfg.Logger.Warn("sso: lookup", "id", id, "err", err)
			}
			if e != nil {
				r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, signedOn{id: id, e: e}))
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Login registers e and sets the cookie on w, as Tomcat's authenticator does at a
// login: the user is signed on to every node's applications.
func (s *SSO) Login(ctx context.Context, w http.ResponseWriter, r *http.Request, e *Entry) (string, error) {
	id, err := s.Register(ctx, e)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{Name: s.cfg.CookieName, Value: id, Path: s.cfg.CookiePath, Domain: s.cfg.CookieDomain,
		HttpOnly: true, Secure: r.TLS != nil})
	return id, nil
}

// Logout deregisters the request's entry and expires its cookie. As Tomcat, which
// deregisters only the entry its valve found for the request, it sends nothing for a
// cookie naming no entry the map holds (or a value that cannot be an id, cookieID).
func (s *SSO) Logout(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(s.cfg.CookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: s.cfg.CookieName, Value: "", Path: s.cfg.CookiePath, Domain: s.cfg.CookieDomain,
		MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil})
	id := s.cookieID(r)
	if id == "" {
		return nil
	}
	e, err := s.Lookup(ctx, id)
	if err != nil || e == nil {
		return err
	}
	return s.Deregister(ctx, id)
}
