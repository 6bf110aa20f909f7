package nio

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"golang.org/x/sys/unix"
)

// senderSndbufs returns SO_SNDBUF of every connection in tr's sender pools.
func senderSndbufs(t *testing.T, tr *Transport) []int {
	t.Helper()
	s := tr.snd.Load()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var got []int
	for _, p := range s.pools {
		p.mu.Lock()
		for c := range p.all {
			var v int
			var gerr error
			if err := c.raw.Control(func(fd uintptr) {
				v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
			}); err != nil || gerr != nil {
				p.mu.Unlock()
				t.Fatalf("getsockopt: %v %v", err, gerr)
			}
			got = append(got, v)
		}
		p.mu.Unlock()
	}
	return got
}

// wmemMax returns net.core.wmem_max, the largest SO_SNDBUF Linux lets a socket set.
func wmemMax(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/wmem_max")
	if err != nil {
		t.Skipf("net.core.wmem_max not readable here: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		t.Fatalf("net.core.wmem_max %q: %v", b, err)
	}
	return n
}

// TestSenderSocketBuffers checks what Config.SenderTxBufSize does to the sender's
// connections: by default SO_SNDBUF is DefaultSenderTxBufSize (Linux reports twice the
// size set), cut to net.core.wmem_max when that is lower (stock kernels: 212992), a
// size above net.core.wmem_max is cut to it with no error (what the field's doc says),
// and -1 leaves the kernel's auto-tuned size (on loopback, measured, the 4 MiB of
// net.ipv4.tcp_wmem's maximum straight away).
func TestSenderSocketBuffers(t *testing.T) {
	wmax := wmemMax(t)
	for _, tc := range []struct {
		name string
		set  int
		want func(int) bool
	}{
		{"default", DefaultSenderTxBufSize, func(v int) bool { return v == 2*min(DefaultSenderTxBufSize, wmax) }},
		{"over wmem_max", 3 * wmax, func(v int) bool { return v == 2*wmax }},
		{"os", -1, func(v int) bool { return v > 0 && v != 2*min(DefaultSenderTxBufSize, wmax) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(1)
			b := startNode(t, testConfig(), rec.rx)
			cfg := testConfig()
			if cfg.SenderTxBufSize != DefaultSenderTxBufSize {
				t.Fatalf("testConfig's SenderTxBufSize %d, want the default", cfg.SenderTxBufSize)
			}
			cfg.SenderTxBufSize = tc.set
			a := startNode(t, cfg, nil)
			if err := a.t.Send(context.Background(), []channel.Member{b.member}, a.msg(channel.OptUseAck, []byte("x"))); err != nil {
				t.Fatal(err)
			}
			rec.next(t)
			got := senderSndbufs(t, a.t)
			if len(got) != 1 {
				t.Fatalf("%d pooled connections, want 1", len(got))
			}
			if !tc.want(got[0]) {
				t.Fatalf("SO_SNDBUF %d with SenderTxBufSize %d", got[0], tc.set)
			}
		})
	}
}

// rmemMax returns net.core.rmem_max, the largest SO_RCVBUF Linux lets a socket set.
func rmemMax(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Skipf("net.core.rmem_max not readable here: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		t.Fatalf("net.core.rmem_max %q: %v", b, err)
	}
	return n
}

// TestSocketBuffersCutAreReported: socket buffers set above the machine's caps
// (net.core.rmem_max, wmem_max) are cut to them by the kernel with no error; Stats reports
// what the kernel kept (getsockopt: twice the cap on Linux) on the receiver's side and the
// sender's, and each side logs the cut once, not once per connection (the sender connects
// to two receivers here). With the default sizes, under the caps, Stats reports twice each
// size set and nothing is logged.
func TestSocketBuffersCutAreReported(t *testing.T) {
	wmax, rmax := wmemMax(t), rmemMax(t)
	forEachEngine(t, func(t *testing.T, base Config) {
		for _, over := range []bool{true, false} {
			var rxLog, txLog testutil.Buffer
			cfg := base
			if over {
				cfg.RxBufSize, cfg.TxBufSize = 3*rmax, 3*wmax
				cfg.SenderRxBufSize, cfg.SenderTxBufSize = 3*rmax, 3*wmax
			} else {
				cfg.RxBufSize = 0 // the system's: not compared with a size set
			}
			rcfg, scfg := cfg, cfg
			rcfg.Logger = slog.New(slog.NewTextHandler(&rxLog, nil))
			scfg.Logger = slog.New(slog.NewTextHandler(&txLog, nil))
			rec := newRecorder(2)
			b, c := startNode(t, rcfg, rec.rx), startNode(t, cfg, rec.rx)
			a := startNode(t, scfg, nil)
			for _, to := range []*node{b, c} {
				if err := a.t.Send(context.Background(), []channel.Member{to.member}, a.msg(channel.OptUseAck, []byte("x"))); err != nil {
					t.Fatal(err)
				}
				rec.next(t)
			}
			bs, as := b.t.Stats(), a.t.Stats()
			wantRx, wantTx := int64(2*rmax), int64(2*wmax)
			wantSrx, wantStx := wantRx, wantTx
			wantLog := 1
			if !over {
				wantRx = bs.RxBufKernel // the system's default, whatever it is
				wantTx = int64(2 * min(DefaultTxBufSize, wmax))
				wantSrx, wantStx = int64(2*min(DefaultSenderRxBufSize, rmax)), int64(2*min(DefaultSenderTxBufSize, wmax))
				wantLog = 0
			}
			if bs.RxBufKernel <= 0 || bs.RxBufKernel != wantRx || bs.TxBufKernel != wantTx ||
				as.SenderRxBufKernel != wantSrx || as.SenderTxBufKernel != wantStx {
				t.Fatalf("over %v: receiver SO_RCVBUF %d, SO_SNDBUF %d; sender %d, %d; want %d, %d; %d, %d", over,
					bs.RxBufKernel, bs.TxBufKernel, as.SenderRxBufKernel, as.SenderTxBufKernel, wantRx, wantTx, wantSrx, wantStx)
			}
			for side, log := range map[string]*testutil.Buffer{"receiver": &rxLog, "sender": &txLog} {
				if n := strings.Count(log.String(), "smaller socket buffer than configured (raise its limit for the size set)\" side="+side); n != wantLog {
					t.Errorf("over %v: %s logged %d cuts, want %d:\n%s", over, side, n, wantLog, log.String())
				}
			}
			if want := fmt.Sprintf("SO_RCVBUF.set=%d SO_RCVBUF.kept=%d SO_RCVBUF.reported=%d SO_RCVBUF.limit=net.core.rmem_max SO_SNDBUF.set=%d SO_SNDBUF.kept=%d SO_SNDBUF.reported=%d SO_SNDBUF.limit=net.core.wmem_max",
				3*rmax, rmax, 2*rmax, 3*wmax, wmax, 2*wmax); over && (!strings.Contains(rxLog.String(), "side=receiver "+want) || !strings.Contains(txLog.String(), "side=sender "+want)) {
				t.Errorf("the cut's lines name no limit or size kept:\n%s%s", rxLog.String(), txLog.String())
			}
		}
	})
}

// TestRxBufKernelIsTheAutoTunedStart: with RxBufSize -1 (the default: Linux's
// auto-tuning) Stats.RxBufKernel is the receive buffer's starting size, net.ipv4.tcp_rmem's
// default, read once: it stays that after the connection carried 8 MiB, whatever Linux grew
// the connection's own buffer to meanwhile (what the field's doc says), on both engines.
func TestRxBufKernelIsTheAutoTunedStart(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_rmem")
	if err != nil {
		t.Skipf("net.ipv4.tcp_rmem not readable here: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		t.Fatalf("net.ipv4.tcp_rmem %q", b)
	}
	start, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatalf("net.ipv4.tcp_rmem %q: %v", b, err)
	}
	forEachEngine(t, func(t *testing.T, cfg Config) {
		if cfg.RxBufSize != -1 {
			t.Fatalf("testConfig's RxBufSize %d, want -1 (DefaultRxBufSize)", cfg.RxBufSize)
		}
		rec := newRecorder(8)
		recv := startNode(t, cfg, rec.rx)
		send := startNode(t, testConfig(), nil)
		msg := send.msg(channel.OptUseAck, make([]byte, 1<<20))
		for i := range 8 {
			if err := send.t.Send(context.Background(), []channel.Member{recv.member}, msg); err != nil {
				t.Fatal(err)
			}
			rec.next(t)
			if got := recv.t.Stats().RxBufKernel; got != start {
				t.Fatalf("after %d MiB: RxBufKernel %d, want tcp_rmem's default %d", i+1, got, start)
			}
		}
	})
}
