package nio

import (
	"context"
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

// TestSenderSocketBuffers checks what Config.SenderTxBufSize does to the sender's
// connections: by default SO_SNDBUF is DefaultSenderTxBufSize (Linux reports twice the
// size set), and -1 leaves the kernel's auto-tuned size (on loopback, measured, the 4 MiB of
// net.ipv4.tcp_wmem's maximum straight away).
func TestSenderSocketBuffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  int
		want func(int) bool
	}{
		{"default", DefaultSenderTxBufSize, func(v int) bool { return v == 2*DefaultSenderTxBufSize }},
		{"os", -1, func(v int) bool { return v > 0 && v != 2*DefaultSenderTxBufSize }},
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
