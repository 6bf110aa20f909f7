package nio

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gotribes/tribes/channel"
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
