package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gotribes/tribes/transport/nio"
)

// TestRawTCPAckedBuffers: the acked raw baseline has the Go sender's and receiver's socket
// buffers, as docs/benchmarks.md says: the writer's SO_SNDBUF nio.DefaultSenderTxBufSize
// and SO_RCVBUF nio.DefaultSenderRxBufSize, the reader's SO_SNDBUF nio.DefaultTxBufSize
// (Linux reports twice what was set).
func TestRawTCPAckedBuffers(t *testing.T) {
	type bufs struct{ snd, rcv int }
	var mu sync.Mutex
	got := map[string]bufs{}
	rawTCPBuffersHook = func(end string, c net.Conn) {
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Error(err)
			return
		}
		var b bufs
		_ = rc.Control(func(fd uintptr) {
			b.snd, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
			b.rcv, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		})
		mu.Lock()
		got[end] = b
		mu.Unlock()
	}
	defer func() { rawTCPBuffersHook = nil }()
	if mbps := rawTCPMBps(context.Background(), 64<<10, 50*time.Millisecond, nio.DefaultSenderTxBufSize, true); mbps <= 0 {
		t.Fatalf("%.1f MB/s", mbps)
	}
	mu.Lock()
	defer mu.Unlock()
	w, r := got["writer"], got["reader"]
	// Linux caps what is set at net.core.wmem_max / rmem_max, then doubles it.
	wmax, rmax := sysctlInt(t, "net/core/wmem_max"), sysctlInt(t, "net/core/rmem_max")
	wantSnd, wantRcv, wantRsnd := 2*min(nio.DefaultSenderTxBufSize, wmax), 2*min(nio.DefaultSenderRxBufSize, rmax), 2*min(nio.DefaultTxBufSize, wmax)
	if w.snd != wantSnd || w.rcv != wantRcv || r.snd != wantRsnd {
		t.Fatalf("writer SO_SNDBUF %d, SO_RCVBUF %d; reader SO_SNDBUF %d; want %d, %d, %d", w.snd, w.rcv, r.snd, wantSnd, wantRcv, wantRsnd)
	}
}

// sysctlInt reads /proc/sys/name.
func sysctlInt(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		t.Skipf("no %s: %v", name, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}
