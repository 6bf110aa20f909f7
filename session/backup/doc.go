// Package backup puts Go nodes into a cluster of Tomcat nodes whose sessions are kept by
// Tomcat's BackupManager: every session lives on its primary node and one backup node,
// in a LazyReplicatedMap named "<manager name>-map" (package replmap), and each
// request's changes travel to the backup as a diff.
//
// Session is Tomcat's DeltaSession as the map holds it, and Codec converts it from and
// to the Java-serialized DeltaSession the map carries (replmap.Config.Values). A Session
// implements replmap.Diffable (its diff is DeltaSession.getDiff's DeltaRequest stream)
// and replmap.AccessReplicated (an unchanged session used on its primary is told to the
// backup with MSG_ACCESS once its max inactive interval passed).
//
// Use it with a replmap.Map configured as BackupManager configures its map (MapConfig):
//
//	m, err := replmap.New(backup.MapConfig(ch, "localhost#/app", backup.Limits{}))
//	...
//	v, ok, err := m.Get(ctx, id)  // a proxy fetches the session from its backup
//	s := v.(*backup.Session)
//	n, _, _ := s.Get("counter")
//	s.Set("counter", n.(int)+1)
//	err = m.Replicate(ctx, id, false) // what Tomcat's ReplicationValve does after a request
//
// # Limits
//
// Every stream is decoded with Limits.Java's bounds (jserial's depth, handle and
// length limits; at most MaxEntries attributes or actions), and a session's attribute
// and note values together are bounded by Limits.MaxSessionBytes, which a diff cannot
// exceed: a diff that would is refused, with the session unchanged.
package backup
