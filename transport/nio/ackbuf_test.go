package nio

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// A receiver may put other frames before its ACK; the sender ignores them, as Java does.
// The buffer it grew to hold such a frame stayed with the pooled connection for the
// connection's lifetime: a peer that answers each message with an 8 MiB frame before its
// ACK left 16 MiB behind on every pooled connection to it, PoolSize (25) of them per
// member. The grown buffer is now used for that read only.
func TestAckBufferNotRetainedAfterHugeReply(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const junk = 8 << 20
	reply := append(wire.AppendFrame(nil, make([]byte, junk)), wire.AckFrame...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var buf []byte
		tmp := make([]byte, 4096)
		for {
			if _, n, err := wire.ParseFrame(buf, 0); err != nil || n > 0 {
				break
			}
			k, err := c.Read(tmp)
			if err != nil {
				return
			}
			buf = append(buf, tmp[:k]...)
		}
		_, _ = c.Write(reply)
		_, _ = io.Copy(io.Discard, c) // until the sender closes
	}()
	peer := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: int32(ln.Addr().(*net.TCPAddr).Port), SecurePort: -1, UDPPort: -1}

	cfg := testConfig()
	cfg.Timeout = 20 * time.Second // reading 8 MiB under the race detector on a loaded machine
	a := startNode(t, cfg, nil)
	if err := a.t.Send(context.Background(), []channel.Member{peer}, a.msg(channel.OptUseAck, []byte("x"))); err != nil {
		t.Fatal(err)
	}
	c := idleConn(t, a, peer)
	if held := cap(c.ackBuf); held > 1<<20 {
		t.Fatalf("the idle pooled connection keeps a %d-byte ACK buffer after one reply with a %d-byte frame before its ACK", held, junk)
	}
	_ = a.t.Stop(context.Background(), channel.SvcSender)
	<-done
}
