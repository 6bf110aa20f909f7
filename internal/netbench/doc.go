// Package netbench is a multi-host test bench for membership and failure detection: N
// network namespaces on a bridge, a node process in each, fault injection, and clean-up.
//
//	b := netbench.New(t, 5)                     // skips unless root with ip and iptables
//	bin := netbench.Tribesdemo(t)               // go build ./cmd/tribesdemo, once per process
//	group, port := netbench.Group(t.Name())
//	for _, h := range b.Hosts {
//		h.Start(t, "n", netbench.ProcOptions{}, bin, "node", "--bind", h.Addr.String(),
//			"--mcast-bind", h.Addr.String(), "--mcast-addr", group, ...)
//	}
//	p.Kill(); p.Freeze(); p.Thaw()              // SIGKILL, SIGSTOP, SIGCONT by PID
//	b.Partition(b.Hosts[:2], b.Hosts[2:]); b.Heal()
//	b.Loss(0.05)                                // iptables statistic, on every host's input
//
// Each host is a namespace "gtb<pid>-<n>-h<i>" with one interface, eth0, addressed
// 10.X.Y.(i+1)/24 and with a route for 224.0.0.0/4; the other end of its veth is on a
// bridge (multicast snooping off) in a namespace of its own, so that nothing is added to
// the machine's own network namespace and no packet can reach a real network. Faults are
// iptables rules in chains of each host's namespace. Everything is deleted at the end of
// the test (t.Cleanup, also on failure); namespaces left by a killed test process are
// removed by the next New.
//
// Processes print JSON lines (tribesdemo node, or the Java peer's node through
// javapeer.NodeCommand); Proc keeps the events with the time each line was read and
// tracks the node's view. Every process should get a time limit of its own (--seconds).
package netbench
