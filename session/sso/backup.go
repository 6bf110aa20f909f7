package sso

import (
	"context"
	"net/http"

	"github.com/gotribes/tribes/session/backup"
)

// AssociateBackup is Associating with the session of a session/backup middleware
// (backup.FromContext): s.Wrap(m.Wrap(s.AssociateBackup(app, "localhost", "/goapp"))).
// The session it associates also gets the entry's listener (Session.AttachListener with
// the single sign-on id, which travels to Tomcat as its ClusterSingleSignOnListener, and
// a logout on Tomcat signs the user off by it: interop/tomcat TestBackupListenerOnTomcat):
// with BackupListeners as the manager's backup.Config.NamedListener, the entry follows
// the session's id changes.
func (s *SSO) AssociateBackup(next http.Handler, host, contextPath string) http.Handler {
	return s.Associating(next, host, contextPath, func(r *http.Request) string {
		rq := backup.FromContext(r.Context())
		if rq == nil {
			return ""
		}
		bs, err := rq.Session()
		if bs == nil || err != nil {
			return ""
		}
		if _, id := FromContext(r.Context()); id != "" {
			if err := bs.AttachListener(id); err != nil {
				s.cfg.Logger.Warn("sso: attach the entry's listener", "id", id, "err", err)
			}
		}
		return bs.ID()
	})
}

// BackupListeners returns a backup.Config.NamedListener for the manager of context
// contextPath on host: the listener a session attached under a single sign-on id
// (AssociateBackup, or Tomcat's ClusterSingleSignOnListener on a session it shares) keeps
// the entry in step with the session, as Listeners does for session/delta. When this
// node renames the session, the entry lists the new id in place of the old one (Tomcat's
// SingleSignOn.sessionChangedId) and is replicated, so that a sign-off ends the renamed
// session and the entry keeps no id that names nothing
// (TestBackupRenameKeepsEntryInSync). When this node invalidates the session (a logout),
// the user is signed off (Deregister, and with it Config.SignedOff); when it expires
// here, it leaves the entry, and an entry left with no session is deregistered
// (TestBackupSessionEndEndsSignOn). Events of another node are followed there: by
// Tomcat's listener, or by that Go node's BackupListeners.
func (s *SSO) BackupListeners(host, contextPath string) func(name string) backup.SessionListener {
	return func(id string) backup.SessionListener {
		return backup.SessionListenerFuncs{IDChanged: func(bs *backup.Session, oldID string) {
			ctx, cancel := context.WithTimeout(s.bg, RPCTimeout)
			defer cancel()
			k := SessionKey{ID: bs.ID(), Context: contextPath, Host: host}
			if err := s.renameSession(ctx, id, SessionKey{ID: oldID, Context: contextPath, Host: host}, k); err != nil {
				s.cfg.Logger.Warn("sso: the id change of a signed-on session", "id", id, "session", k.ID, "err", err)
			}
		}, Destroyed: func(bs *backup.Session, expired bool) {
			ctx, cancel := context.WithTimeout(s.bg, RPCTimeout)
			defer cancel()
			var err error
			if expired {
				err = s.removeSession(ctx, id, SessionKey{ID: bs.ID(), Context: contextPath, Host: host})
			} else {
				err = s.Deregister(ctx, id)
			}
			if err != nil {
				s.cfg.Logger.Warn("sso: the end of a signed-on session", "id", id, "err", err)
			}
		}}
	}
}
