// Package mcastinterop holds the tests of multicast membership and of the membership
// interceptors against real Java Tomcat Tribes nodes (the Java peer of interop/java) on
// loopback, and the multi-host bench (internal/netbench) that measures join and failure
// detection of Go and Java clusters in network namespaces. It has no code of its own.
//
// The Java tests skip without Java 17 and libtomcat10-java; the bench skips unless it runs
// as root with ip and iptables (scripts/install-test-deps.sh). GOTRIBES_BENCH_JAVA=1 also
// runs the bench with Java nodes, for the figures in docs/benchmarks.md.
package mcastinterop
