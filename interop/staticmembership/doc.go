// Package staticinterop holds the tests of Tomcat's static membership protocol
// (StaticMembershipService, membership/staticsvc) between Go nodes (tribesdemo node, run as
// child processes so they can be killed) and real Java Tomcat Tribes nodes (the Java peer
// of interop/java with --static-membership) on loopback. It has no code of its own.
//
// The tests skip without Java 17 and libtomcat10-java (scripts/install-test-deps.sh).
package staticinterop
