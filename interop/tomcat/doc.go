// Package tomcatinterop holds the tests of session/delta against real Tomcat 10.1 nodes
// (internal/tomcat): Go and Tomcat DeltaManager nodes in one cluster on 127.0.0.1, with
// StaticMembershipService membership, exchanging sessions in Tomcat's format
// (delta.JavaCodec, delta.JavaValueCodec); and of session/backup with Tomcat
// BackupManager nodes, a Go node in their LazyReplicatedMap (TestBackupManager). It has
// no code of its own.
//
// Run them with `go test ./interop/tomcat/` after scripts/install-test-deps.sh; without
// Debian's tomcat10 and a JDK 17 they skip and say so.
package tomcatinterop
