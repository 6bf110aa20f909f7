package sso_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// TestAssociateDelta: a signed-on request that makes a session/delta session adds it to
// the entry, which the other node lists; a request without the cookie adds nothing; the
// other node's sign-off ends the session on both nodes.
func TestAssociateDelta(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	a, msA := startSSOWith(t, nw, []string{"localhost#/goapp"}, nil)
	b, msB := startSSOWith(t, nw, []string{"localhost#/goapp"},
		func(ms []*delta.Manager) func(context.Context, string, *sso.Entry) error {
			return sso.ExpireSessions(ms...)
		})
	seeEachOther(t, a.Map(), b.Map())
	mw, err := delta.NewMiddleware(msA[0], delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	page := a.Wrap(mw.Wrap(a.AssociateDelta(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := delta.FromContext(r.Context()).Set("seen", true); err != nil {
			t.Error(err)
		}
	}), "localhost", "/goapp")))
	id, err := a.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "FORM"})
	if err != nil {
		t.Fatal(err)
	}
	anon := serve(t, page, "/goapp/", "")
	sid := serve(t, page, "/goapp/", id)
	e, err := b.Lookup(ctx, id)
	if err != nil || e == nil || !slices.Equal(e.SessionKeys(), []sso.SessionKey{{ID: sid, Context: "/goapp", Host: "localhost"}}) {
		t.Fatalf("node b's entry %+v (%v), want the session %s only (not %s)", e, err, sid, anon)
	}
	if err := b.Deregister(ctx, id); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the session ended on both nodes", func() bool {
		return msA[0].Find(sid) == nil && msB[0].Find(sid) == nil
	})
	if msA[0].Find(anon) == nil {
		t.Error("the session of the request without the cookie ended too")
	}
}

// TestAssociatingBackup: Associating with a session/backup middleware's session, and a
// SignedOff that invalidates the listed sessions of a backup manager, end a signed-on
// user's session on every node when another node signs the user off.
func TestAssociatingBackup(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	const name = "localhost#/b"
	var bms []*backup.Manager
	var ssos []*sso.SSO
	for range 2 {
		ch := newChannel(t, nw)
		bm, err := backup.NewManager(backup.Config{Channel: ch, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bm.Stop(ctx) })
		bms = append(bms, bm)
		ssos = append(ssos, startSSOOn(t, ch, func(ctx context.Context, _ string, e *sso.Entry) error {
			var errs []error
			for _, k := range e.SessionKeys() {
				if k.ManagerName() == name {
					errs = append(errs, bm.Invalidate(ctx, k.ID))
				}
			}
			return errors.Join(errs...)
		}))
	}
	for _, bm := range bms {
		if err := bm.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	seeEachOther(t, bms[0].Map(), bms[1].Map(), ssos[0].Map(), ssos[1].Map())
	a, b := ssos[0], ssos[1]
	sessionID := func(r *http.Request) string {
		if s, _ := backup.FromContext(r.Context()).Session(); s != nil {
			return s.ID()
		}
		return ""
	}
	page := a.Wrap(bms[0].Wrap(a.Associating(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := backup.FromContext(r.Context()).Create()
		if err == nil {
			err = s.Set("seen", true)
		}
		if err != nil {
			t.Error(err)
		}
	}), "localhost", "/b", sessionID)))
	id, err := a.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "FORM"})
	if err != nil {
		t.Fatal(err)
	}
	sid := serve(t, page, "/b/", id)
	e, err := b.Lookup(ctx, id)
	if err != nil || e == nil || !slices.Equal(e.SessionKeys(), []sso.SessionKey{{ID: sid, Context: "/b", Host: "localhost"}}) {
		t.Fatalf("node b's entry %+v (%v), want the session %q", e, err, sid)
	}
	if err := b.Deregister(ctx, id); err != nil {
		t.Fatal(err)
	}
	for i, bm := range bms {
		if s, err := bm.Find(ctx, sid); s != nil || err != nil {
			t.Errorf("node %d still finds the session (%v)", i, err)
		}
	}
}
