// Package sessionsinterop holds the process-level tests of replicated HTTP sessions
// (session/delta through `tribesdemo sessions`). It has no code of its own.
//
// The multi-host test runs three web nodes, each in a network namespace of its own on the
// internal/netbench bridge, with multicast membership, the TCP failure detector and
// acknowledged replication, a client spreading counter requests over them, and one node
// killed with SIGKILL in the middle of the load. It skips unless it runs as root with ip
// and iptables (scripts/install-test-deps.sh).
//
// The loopback tests kill a node with SIGKILL and start it again (multicast and static
// membership, ping,tcpfailure) and check it serves every session, and check the
// --route-binder flag.
//
// Every test skips in -short mode.
package sessionsinterop
