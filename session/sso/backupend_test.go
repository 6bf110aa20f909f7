package sso_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// TestBackupSessionEndEndsSignOn: with BackupListeners as the session/backup managers'
// NamedListener and AssociateBackup attaching the entry's listener, a signed-on session
// invalidated on its node (a logout page) signs the user off on every node, and the
// expiry of the user's only session ends the sign-on, as Tomcat's SingleSignOn does for
// a BackupManager session. (Found when session/backup had no session listeners: the user
// stayed signed on, on every node, after logging out of the application.)
func TestBackupSessionEndEndsSignOn(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	page := func(w http.ResponseWriter, r *http.Request) {
		q := backup.FromContext(r.Context())
		if r.URL.Path == "/b/logout" {
			if err := q.Invalidate(); err != nil {
				t.Error(err)
			}
			return
		}
		s, err := q.Create()
		if err == nil && r.URL.Path == "/b/short" {
			s.SetMaxInactive(time.Second)
		}
		if err == nil {
			err = s.Set("seen", true)
		}
		if err != nil {
			t.Error(err)
		}
	}
	_, ssos, pages := startBackupSSOs(t, nw, page, [2]backup.Config{
		{ExpireInterval: 20 * time.Millisecond}, {ExpireInterval: 20 * time.Millisecond}})
	signedOn := func(id string) error {
		for i, s := range ssos {
			if e, err := s.Lookup(ctx, id); err != nil || e != nil {
				return fmt.Errorf("node %d still has the entry %+v (%v)", i, e, err)
			}
		}
		return nil
	}

	// A logout: the application invalidates the session on node 0.
	id, err := ssos[0].Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "FORM"})
	if err != nil {
		t.Fatal(err)
	}
	sid := serveSession(t, pages[0], "/b/", id, "")
	if e, err := ssos[1].Lookup(ctx, id); err != nil || e == nil || e.Sessions() != 1 {
		t.Fatalf("node 1's entry %+v (%v), want the session %s", e, err, sid)
	}
	serveSession(t, pages[0], "/b/logout", id, sid)
	if err := signedOn(id); err != nil {
		t.Errorf("after the session's invalidation: %v", err)
	}

	// The user's only session times out on node 1.
	id, err = ssos[1].Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "bob"}, AuthType: "FORM"})
	if err != nil {
		t.Fatal(err)
	}
	serveSession(t, pages[1], "/b/short", id, "")
	testutil.Eventually(t, testutil.WaitLimit, func() error { return signedOn(id) })
}
