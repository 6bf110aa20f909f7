// Package interop holds the tests that run Go nodes against real Java Tomcat Tribes nodes:
// the project's Java test peer (interop/java), compiled at test time against Debian's
// tomcat10-tribes.jar by internal/javapeer. It has no code of its own.
//
// Run them with `go test ./interop/` after scripts/install-test-deps.sh; without Java 17 and
// libtomcat10-java they skip and say so.
package interop
