package sso_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

func startSSO(t *testing.T, nw *channeltest.Network) *sso.SSO {
	t.Helper()
	s, _ := startSSOWith(t, nw, nil, nil)
	return s
}

// startSSOWith starts a node with a started session/delta manager for each name and an
// SSO whose SignedOff, if signedOff is not nil, is what it returns for the managers.
func startSSOWith(t *testing.T, nw *channeltest.Network, names []string,
	signedOff func([]*delta.Manager) func(context.Context, string, *sso.Entry) error) (*sso.SSO, []*delta.Manager) {
	t.Helper()
	ctx := context.Background()
	ch := newChannel(t, nw)
	cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(ctx) })
	var ms []*delta.Manager
	for _, name := range names {
		m, err := cl.NewManager(delta.Config{Name: name, Replication: delta.ReplicateAcked,
			MemberWait: -1}) // the first node starts empty at once
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	var so func(context.Context, string, *sso.Entry) error
	if signedOff != nil {
		so = signedOff(ms)
	}
	return startSSOOn(t, ch, so), ms
}

// startSSOApp starts on ch a cluster logging to logger (nil: nowhere) and a manager of
// the application localhost#/app (acknowledged replication, no sweep of its own) whose
// NamedListener is s's Listeners, and returns the manager and its middleware.
func startSSOApp(t *testing.T, ch *channel.Channel, s *sso.SSO, logger *slog.Logger) (*delta.Manager, *delta.Middleware) {
	t.Helper()
	ctx := context.Background()
	cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(ctx) })
	m, err := cl.NewManager(delta.Config{Name: "localhost#/app", Replication: delta.ReplicateAcked, MemberWait: -1,
		ExpireInterval: -1, NamedListener: s.Listeners("localhost", "/app")})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mw, err := delta.NewMiddleware(m, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return m, mw
}

// newChannel starts a channel on nw.
func newChannel(t *testing.T, nw *channeltest.Network) *channel.Channel {
	t.Helper()
	tn := nw.NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, ch)
	return ch
}

// startSSOOn starts an SSO on ch with signedOff as its Config.SignedOff.
func startSSOOn(t *testing.T, ch *channel.Channel, signedOff func(context.Context, string, *sso.Entry) error) *sso.SSO {
	t.Helper()
	s, err := sso.New(sso.Config{Channel: ch, SignedOff: signedOff})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// seeEachOther waits until each map has the other one as its only member.
func seeEachOther(t *testing.T, maps ...*replmap.Map) {
	t.Helper()
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the nodes see each other", func() bool {
		for _, m := range maps {
			if len(m.Members()) != 1 {
				return false
			}
		}
		return true
	})
}

// serve requests path from page, with the single sign-on cookie id unless it is empty,
// and returns the session id the answer's cookie sets.
func serve(t *testing.T, page http.Handler, path, id string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if id != "" {
		req.AddCookie(&http.Cookie{Name: sso.DefaultCookieName, Value: id})
	}
	w := httptest.NewRecorder()
	page.ServeHTTP(w, req)
	for _, c := range w.Result().Cookies() {
		if c.Name == "JSESSIONID" {
			return c.Value
		}
	}
	t.Fatalf("no session cookie: %v", w.Result().Cookies())
	return ""
}

// TestLoginLogout: a login on one node signs the user on on the other, which sees the
// entry from the cookie; a logout there signs the user off both and expires the cookie.
func TestLoginLogout(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, b := startSSO(t, nw), startSSO(t, nw)
	w := httptest.NewRecorder()
	id, err := a.Login(ctx, w, httptest.NewRequest(http.MethodPost, "/login", nil),
		&sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "BASIC", Username: "ann", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != sso.DefaultCookieName || cookies[0].Value != id || cookies[0].Path != "/" ||
		!cookies[0].HttpOnly || len(id) != 32 {
		t.Fatalf("cookie %+v for id %q", cookies, id)
	}
	var seen *sso.Entry
	var seenID string
	page := b.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, seenID = sso.FromContext(r.Context())
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookies[0])
	page.ServeHTTP(httptest.NewRecorder(), req)
	if seen == nil || seen.Principal.Name != "ann" || seen.Password != "pw" || seenID != id {
		t.Fatalf("node b saw %+v (%q)", seen, seenID)
	}
	out := httptest.NewRecorder()
	if err := b.Logout(ctx, out, req); err != nil {
		t.Fatal(err)
	}
	if c := out.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("logout cookie %+v", c)
	}
	for _, s := range []*sso.SSO{a, b} {
		if e, err := s.Lookup(ctx, id); e != nil || err != nil {
			t.Errorf("after logout: %+v %v", e, err)
		}
	}
	page.ServeHTTP(httptest.NewRecorder(), req)
	if seen != nil {
		t.Errorf("signed on after the logout: %+v", seen)
	}
}

// signOffs records SignedOff calls.
type signOffs struct {
	mu   sync.Mutex
	keys [][]sso.SessionKey
}

func (r *signOffs) add(_ context.Context, _ string, e *sso.Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, e.SessionKeys())
	return nil
}

func (r *signOffs) get() [][]sso.SessionKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.keys)
}

// TestSignOffExpiresSessions: sessions associated with an entry on one node are listed
// on the others; when a node signs the user off, it and every other node get the entry
// (SignedOff), and ExpireSessions ends the sessions each holds: on the node that signed
// off and, through a member's removal, a session of a context only another node has.
func TestSignOffExpiresSessions(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	var recA, recB signOffs
	recordAndExpire := func(rec *signOffs) func([]*delta.Manager) func(context.Context, string, *sso.Entry) error {
		return func(ms []*delta.Manager) func(context.Context, string, *sso.Entry) error {
			expire := sso.ExpireSessions(ms...)
			return func(ctx context.Context, id string, e *sso.Entry) error {
				_ = rec.add(ctx, id, e)
				return expire(ctx, id, e)
			}
		}
	}
	a, msA := startSSOWith(t, nw, []string{"localhost#/app", "localhost#/goapp"}, recordAndExpire(&recA))
	b, msB := startSSOWith(t, nw, []string{"localhost#/app"}, recordAndExpire(&recB))

	seeEachOther(t, a.Map(), b.Map())
	shared, err := msA[0].Create(ctx) // replicated to b's /app
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(shared.Set("user", "ann"), msA[0].Replicate(ctx, shared)); err != nil {
		t.Fatal(err)
	}
	own, err := msA[1].Create(ctx) // /goapp: only a has it
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "FORM"})
	if err != nil {
		t.Fatal(err)
	}
	kShared := sso.SessionKey{ID: shared.ID(), Context: "/app", Host: "localhost"}
	kOwn := sso.SessionKey{ID: own.ID(), Context: "/goapp", Host: "localhost"}
	// b's Lookup makes it the entry's primary, and its replicate reaches a.
	for i, k := range []sso.SessionKey{kShared, kOwn, kShared} {
		if err := []*sso.SSO{a, b, a}[i].Associate(ctx, id, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Associate(ctx, "nope", kOwn); !errors.Is(err, sso.ErrNotSignedOn) {
		t.Fatalf("Associate with an unknown id: %v", err)
	}
	for i, s := range []*sso.SSO{a, b} {
		e, err := s.Lookup(ctx, id)
		if err != nil || e == nil || !slices.Equal(e.SessionKeys(), []sso.SessionKey{kShared, kOwn}) {
			t.Fatalf("node %d's entry %+v (%v)", i, e, err)
		}
	}
	if len(recA.get())+len(recB.get()) != 0 {
		t.Fatalf("associating signed off: %v %v", recA.get(), recB.get())
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "node b's copy of the shared session", func() bool {
		return msB[0].Find(shared.ID()) != nil
	})

	if err := b.Deregister(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := recB.get(); len(got) != 1 || !slices.Equal(got[0], []sso.SessionKey{kShared, kOwn}) {
		t.Fatalf("node b's SignedOff calls %v", got)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "node a's SignedOff and its sessions ended", func() bool {
		return len(recA.get()) == 1 && msA[0].Find(shared.ID()) == nil && msA[1].Find(own.ID()) == nil
	})
	if msB[0].Find(shared.ID()) != nil {
		t.Error("node b still has the shared session")
	}
	if got := recA.get(); !slices.Equal(got[0], []sso.SessionKey{kShared, kOwn}) {
		t.Errorf("node a's SignedOff got %v", got[0])
	}
}

func TestNewNeedsChannel(t *testing.T) {
	if _, err := sso.New(sso.Config{}); !errors.Is(err, channel.ErrInvalidConfig) {
		t.Errorf("New without channel: %v", err)
	}
}
