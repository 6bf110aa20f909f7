// Package sso shares single sign-on with Tomcat's ClusterSingleSignOn valve: a user
// who logs in on any node, Go or Tomcat, is signed on to the applications of every
// node.
//
// Tomcat keeps its signed-on users in a replicated map (tribes' ReplicatedMap, every
// node holding every entry) named "<cluster name>-SSO-cache", under the id its
// JSESSIONIDSSO cookie carries; an entry (SingleSignOnEntry) holds the principal, the
// authentication type, the credentials of a BASIC or FORM login and the application
// sessions of the user. An SSO joins that map (package replmap) with the entries as
// *Entry values (Codec writes Tomcat's bytes). Wrap finds the entry of a request's
// cookie for FromContext; Login registers an entry and sets the cookie (Tomcat's pages
// then see the user as logged in, the principal's roles included); Logout and Deregister
// sign the user off every node; Logout sends nothing for a cookie that names no entry,
// and Wrap and Logout ignore a cookie value that cannot be an id (at most 256 letters,
// digits, '.', '-', '_'). The map is Tomcat's: a ClusterSingleSignOn valve in the
// Host, its cluster in the Engine "Catalina" (DefaultMapName) or in the Host (the map
// is then "<host>-SSO-cache").
//
// Defaults (Tomcat's names beside them): RPCTimeout 15 s (rpcTimeout), AccessTimeout 5 s
// (accessTimeout), SendOptions USE_ACK|SYNC_ACK (mapSendOptions), the cookie
// JSESSIONIDSSO on path "/" (SingleSignOn's), HttpOnly, Secure on TLS requests.
//
// Single logout: an entry lists the user's application sessions (SessionKeys). Tomcat
// adds those a signed-on request reaches, Associate adds a Go application's (Associating
// and AssociateDelta, for each signed-on request of a session middleware), and the node
// that signs the user off ends the listed sessions it serves: Tomcat those of its
// contexts, a Go node those Config.SignedOff ends (ExpireSessions: the sessions of
// session/delta managers named "<host>#<context>" or, for a cluster in the Host,
// "<context>", replicated to the Tomcat nodes that share them). SignedOff is
// called for entries signed off here and for those a member removed (a Tomcat logout).
// With Listeners as a delta manager's NamedListener, an entry ends with its sessions as
// Tomcat's do: a session's invalidation signs the user off, the last one's timeout too;
// and it follows their id changes (SingleSignOn.sessionChangedId), this node's and those
// applied from other nodes, so that a sign-off ends a renamed session. With
// BackupListeners as a session/backup manager's NamedListener and AssociateBackup
// attaching the listener, an entry follows the renames that node makes of its sessions
// (its jvmRoute binder's, ChangeSessionID) and ends with them (their invalidation or,
// the last one's, expiry there).
package sso
