// Package mapsinterop holds the interop test of package replmap against the real Java
// Tribes classes: Go maps and a Java LazyReplicatedMap of the same name on channels with
// StaticMembershipService, each side putting entries the other gets. The Java side is the
// project's test peer (interop/java, MapPeer.java). The test skips on a developer machine
// when Java or Debian's libtomcat10-java are missing.
package mapsinterop
