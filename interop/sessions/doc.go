// Package sessionsinterop holds the multi-host test of replicated HTTP sessions
// (session/delta through `tribesdemo sessions`): three web nodes, each in a network
// namespace of its own on the internal/netbench bridge, multicast membership with the TCP
// failure detector, acknowledged replication, a client spreading counter requests over
// them, and one node killed with SIGKILL in the middle of the load. It has no code of its
// own.
//
// The test skips unless it runs as root with ip and iptables
// (scripts/install-test-deps.sh), and in -short mode.
package sessionsinterop
