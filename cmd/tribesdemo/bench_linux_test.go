package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gotribes/tribes/transport/nio"
)

// TestPingPongBuffers: the acked 1 MiB baseline has the Go sender's and receiver's socket
// buffers, as docs/benchmarks.md says: pingpong's client (the sender) SO_SNDBUF
// nio.DefaultSenderTxBufSize and SO_RCVBUF nio.DefaultSenderRxBufSize, its server (the
// receiver) SO_SNDBUF nio.DefaultTxBufSize (Linux reports twice what was set).
func TestPingPongBuffers(t *testing.T) {
	type bufs struct{ snd, rcv int }
	var mu sync.Mutex
	got := map[string]bufs{}
	pingPongBuffersHook = func(end string, c net.Conn) {
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
	defer func() { pingPongBuffersHook = nil }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines, done := startCmd(t, ctx, ackedFloorServeArgs()...)
	srv := memberArg(next(t, lines, "started"))
	if res, err := runJSON[sendResult](t, runPingPong, append(ackedFloorArgs(srv, 1)[1:], "--count", "3", "--warmup", "0")...); err != nil || res.Sent != 3 {
		t.Fatalf("%v, %+v", err, res)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	w, r := got["client"], got["server"]
	// Linux caps what is set at net.core.wmem_max / rmem_max, then doubles it.
	wmax, rmax := sysctlInt(t, "net/core/wmem_max"), sysctlInt(t, "net/core/rmem_max")
	wantSnd, wantRcv, wantRsnd := 2*min(nio.DefaultSenderTxBufSize, wmax), 2*min(nio.DefaultSenderRxBufSize, rmax), 2*min(nio.DefaultTxBufSize, wmax)
	if w.snd != wantSnd || w.rcv != wantRcv || r.snd != wantRsnd {
		t.Fatalf("client SO_SNDBUF %d, SO_RCVBUF %d; server SO_SNDBUF %d; want %d, %d, %d", w.snd, w.rcv, r.snd, wantSnd, wantRcv, wantRsnd)
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
