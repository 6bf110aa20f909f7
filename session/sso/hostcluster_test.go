package sso_test

import (
	"context"
	"testing"

	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/sso"
)

// TestExpireSessionsHostCluster: the package supports a ClusterSingleSignOn whose
// cluster is in the Host (doc.go; "localhost-SSO-cache", TestClusterSingleSignOnHostCluster).
// Tomcat then names a context's session manager by its path alone ("/app";
// SimpleTcpCluster.getManagerName adds "<host>#" only for a cluster in the Engine), so the
// Go manager that shares Tomcat's /app sessions must be named "/app". ExpireSessions looks
// managers up by SessionKey.ManagerName ("localhost#/app") and by its Context ("/app"):
// a sign-off ends the user's /app session in Go and, since Tomcat relies on Go's
// invalidation to end its copy (docs/tomcat.md, "Go invalidates its copy, Tomcat's
// DeltaManager applies it"), on Tomcat too. (Found when only ManagerName matched.)
func TestExpireSessionsHostCluster(t *testing.T) {
	ctx := context.Background()
	s, ms := startSSOWith(t, channeltest.NewNetwork(), []string{"/app"},
		func(ms []*delta.Manager) func(context.Context, string, *sso.Entry) error {
			return sso.ExpireSessions(ms...)
		})
	ds, err := ms[0].Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Register(ctx, &sso.Entry{Principal: &delta.Principal{Name: "ann"}, AuthType: "FORM"})
	if err != nil {
		t.Fatal(err)
	}
	// The key Tomcat's authenticator records for a session of /app on host localhost.
	if err := s.Associate(ctx, id, sso.SessionKey{ID: ds.ID(), Context: "/app", Host: "localhost"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Deregister(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := ms[0].Find(ds.ID()); got != nil && got.IsValid() {
		t.Errorf("after the sign-off the session %s of manager %q (a Host cluster's name for /app) is still valid",
			ds.ID(), ms[0].Name())
	}
}
