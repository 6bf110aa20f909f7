package sso_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// TestBackupRenameKeepsEntryInSync: a signed-on user's session/backup session that
// another node takes over (the balancer failed over to it) is renamed to that node's
// route; with BackupListeners as the managers' NamedListener and AssociateBackup
// attaching the entry's listener, the entry lists the new id in place of the old one
// (Tomcat's sessionChangedId), and a sign-off on the first node ends the renamed
// session. (Found when session/backup had no session listeners: the entry kept the old
// id, which names no session, beside the new one.)
func TestBackupRenameKeepsEntryInSync(t *testing.T) {
	ctx := context.Background()
	nw := channeltest.NewNetwork()
	page := func(w http.ResponseWriter, r *http.Request) {
		q := backup.FromContext(r.Context())
		s, err := q.Session()
		if s == nil && err == nil {
			s, err = q.Create()
		}
		if err == nil {
			err = s.Set("seen", true)
		}
		if err != nil {
			t.Error(err)
		}
	}
	bms, ssos, pages := startBackupSSOs(t, nw, page, [2]backup.Config{{JvmRoute: "a"}, {JvmRoute: "b"}})

	id, err := ssos[0].Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "FORM"})
	if err != nil {
		t.Fatal(err)
	}
	keys := func(s *sso.SSO) []string {
		e, err := s.Lookup(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range e.SessionKeys() {
			ids = append(ids, k.ID)
		}
		return ids
	}
	old := serveSession(t, pages[0], "/b/", id, "")
	if !strings.HasSuffix(old, ".a") || !slices.Equal(keys(ssos[0]), []string{old}) {
		t.Fatalf("session %s, the entry lists %v", old, keys(ssos[0]))
	}
	renamed := serveSession(t, pages[1], "/b/", id, old)
	if renamed != strings.TrimSuffix(old, ".a")+".b" {
		t.Fatalf("node b answered the session %s with the cookie %s, want it renamed to b's route", old, renamed)
	}
	for i, s := range ssos {
		if got := keys(s); !slices.Equal(got, []string{renamed}) {
			t.Errorf("node %d: after the rename %s -> %s the entry lists %v, want only the new id", i, old, renamed, got)
		}
	}
	if err := ssos[0].Deregister(ctx, id); err != nil {
		t.Fatal(err)
	}
	for i, bm := range bms {
		if s, err := bm.Find(ctx, renamed); s != nil || err != nil {
			t.Errorf("node %d still finds the renamed session after the sign-off (%v)", i, err)
		}
	}
}
