package interceptors

import (
	"log/slog"
	"slices"
)

// wrongOrder is an interceptor order known to be wrong: above configured before (above)
// below in a Build spec.
type wrongOrder struct {
	above, below string // registry names
	refused      bool   // Build fails; otherwise it logs a warning
	why          string
}

// wrongOrders are the orders Build warns about or refuses; docs/interceptors.md ("Orders
// Build checks") lists them.
var wrongOrders = []wrongOrder{
	{above: "tcpfailure", below: "ping", why: "ping finds no failure detector below it, so a member that dies " +
		"without leaving (a static one, or one the membership still lists) is never dropped; write ping,tcpfailure"},
	{above: "tcpfailure", below: "encrypt", refused: true, why: "the failure detector's probes would reach the " +
		"application unencrypted (Encrypt refuses to start so, as in Tomcat); write encrypt,tcpfailure"},
	{above: "tcpfailure", below: "order", why: "the failure detector's raw probes reach order, which takes " +
		"their last bytes for its trailer; write order,tcpfailure"},
	{above: "tcpfailure", below: "fragmentation", why: "the failure detector's raw probes reach fragmentation, " +
		"which reads a trailer they do not have; write fragmentation,tcpfailure"},
	{above: "tcpfailure", below: "twophasecommit", why: "the failure detector's raw probes reach twophasecommit, " +
		"which holds them; write twophasecommit,tcpfailure"},
	{above: "dispatch", below: "order", why: "the dispatcher's workers number asynchronous messages in whatever " +
		"order they run, so order keeps no order; write order,dispatch"},
	{above: "encrypt", below: "gzip", why: "ciphertext does not compress; write gzip,encrypt"},
	{above: "encrypt", below: "zstd", why: "ciphertext does not compress; write zstd,encrypt"},
	{above: "encrypt", below: "s2", why: "ciphertext does not compress; write s2,encrypt"},
}

// checkOrder applies wrongOrders to the names of a stack, first = top.
func checkOrder(names []string, log *slog.Logger) error {
	for _, w := range wrongOrders {
		top := slices.Index(names, w.above)
		if top < 0 || !slices.Contains(names[top+1:], w.below) {
			continue
		}
		if w.refused {
			return configError("interceptor %s above %s: %s", w.above, w.below, w.why)
		}
		log.Warn("interceptor order known to be wrong", "above", w.above, "below", w.below, "why", w.why)
	}
	return nil
}
