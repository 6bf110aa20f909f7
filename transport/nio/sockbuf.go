package nio

import (
	"log/slog"
	"runtime"
	"sync/atomic"
)

// Socket buffers as the kernel keeps them. A size set with SO_RCVBUF or SO_SNDBUF is cut,
// with no error, to the kernel's limit (Linux: net.core.rmem_max and net.core.wmem_max),
// and Linux then reports (getsockopt) twice the size it kept, the extra room being its
// bookkeeping. The transport reads both back once it set them and reports what it read in
// Stats (RxBufKernel, TxBufKernel, SenderRxBufKernel, SenderTxBufKernel); it logs once
// per side when the kernel kept less than was set (TestSocketBuffersCutAreReported).

// bufGauges are the gauges of one side's socket buffers and whether their cut was logged.
type bufGauges struct {
	rcv, snd atomic.Int64
	logged   atomic.Bool
}

// keptSize is the size of a socket buffer the kernel keeps when getsockopt reports
// reported: half of it on Linux, which reports twice the size kept.
func keptSize(reported int) int {
	if runtime.GOOS == "linux" {
		return reported / 2
	}
	return reported
}

// note records the SO_RCVBUF and SO_SNDBUF read back (rcv, snd; err: they could not be
// read) from a socket of side ("receiver", "sender") on which rx and tx were set (0 or
// less: left to the system), and logs at warning level, once per side, a line naming each
// buffer the kernel kept smaller than was set.
func (g *bufGauges) note(l *slog.Logger, side string, rx, tx, rcv, snd int, err error) {
	if err != nil {
		return
	}
	g.rcv.Store(int64(rcv))
	g.snd.Store(int64(snd))
	attrs := []any{"side", side}
	for _, o := range []struct {
		opt, limit string
		set, got   int
	}{{"SO_RCVBUF", "net.core.rmem_max", rx, rcv}, {"SO_SNDBUF", "net.core.wmem_max", tx, snd}} {
		if o.set > 0 && keptSize(o.got) < o.set {
			attrs = append(attrs, slog.Group(o.opt, "set", o.set, "kept", keptSize(o.got), "reported", o.got, "limit", o.limit))
		}
	}
	if len(attrs) > 2 && !g.logged.Swap(true) {
		l.Warn("tribes nio: the kernel kept a smaller socket buffer than configured (raise its limit for the size set)", attrs...)
	}
}
