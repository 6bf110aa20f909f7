// Package cloudinterop holds the tests of cloud membership (Tomcat's
// CloudMembershipService, membership/cloud) between a Go node and a real Java Tomcat
// Tribes node (the Java peer of interop/java with --cloud-membership) on loopback, both
// asking the same stand-in for the Kubernetes API: an HTTPS server (httptest) answering
// with a recorded real pod list (membership/cloud/testdata) whose pods were moved to the
// nodes' loopback addresses. It has no code of its own.
//
// The tests skip without Java 17 and libtomcat10-java (scripts/install-test-deps.sh).
package cloudinterop
