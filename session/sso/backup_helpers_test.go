package sso_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/sso"
)

// startBackupSSOs starts on nw two nodes of an application at /b whose sessions are
// session/backup's, one for each of cfgs: an SSO whose sign-off invalidates the user's
// sessions of the application there, and a manager configured by the cfg (its Channel,
// Name, CookiePath and NamedListener, the SSO's BackupListeners, set here) serving page
// behind the SSO and AssociateBackup. It starts the managers, waits until the nodes see
// each other, and returns the managers, the SSOs and the pages.
func startBackupSSOs(t *testing.T, nw *channeltest.Network, page http.HandlerFunc, cfgs [2]backup.Config) (
	[]*backup.Manager, []*sso.SSO, []http.Handler) {
	t.Helper()
	ctx := context.Background()
	const name = "localhost#/b"
	bms := make([]*backup.Manager, len(cfgs))
	ssos := make([]*sso.SSO, len(cfgs))
	pages := make([]http.Handler, len(cfgs))
	for i, cfg := range cfgs {
		ch := newChannel(t, nw)
		ssos[i] = startSSOOn(t, ch, func(ctx context.Context, _ string, e *sso.Entry) error {
			var errs []error
			for _, k := range e.SessionKeys() {
				if k.ManagerName() == name {
					errs = append(errs, bms[i].Invalidate(ctx, k.ID))
				}
			}
			return errors.Join(errs...)
		})
		cfg.Channel, cfg.Name, cfg.CookiePath = ch, name, "/b"
		cfg.NamedListener = ssos[i].BackupListeners("localhost", "/b")
		bm, err := backup.NewManager(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bm.Stop(ctx) })
		bms[i] = bm
		pages[i] = ssos[i].Wrap(bm.Wrap(ssos[i].AssociateBackup(page, "localhost", "/b")))
	}
	for _, bm := range bms {
		if err := bm.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	seeEachOther(t, bms[0].Map(), bms[1].Map(), ssos[0].Map(), ssos[1].Map())
	return bms, ssos, pages
}
