package nio

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// A send to several members reads, once its deadline passed (a member before did not
// answer), only "a reply already received" (readAck with now: readNow ignores the
// deadline). But readAck keeps calling readNow while the socket has bytes, skipping every
// frame that is not an ACK: a peer that keeps streaming such frames holds the Send, and
// the caller's goroutine, for as long as it streams, past Timeout and past the context's
// deadline (doc.go: "The whole Send ... must finish by the earlier of the context's
// deadline and Timeout").
func TestSendEndsAtItsDeadlineWhenAPeerStreamsNonAckFrames(t *testing.T) {
	silent := newSilentServer(t) // listed first: uses up the deadline

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		close(stop)
		_ = ln.Close()
		wg.Wait()
	})
	// Bounded: the peer stops by itself. Long, so that a Send that returns within half of
	// it was not held by the peer.
	const floodFor = 30 * time.Second
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := c.Read(make([]byte, 1)); err != nil { // the frame arrived
			return
		}
		junk := bytes.Repeat(wire.AppendFrame(nil, []byte("not an ack")), 4096)
		// Whole writes only (a timed-out write would cut a frame): the stream ends when the
		// connection is closed, by the test's end or after floodFor.
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-stop:
			case <-time.After(floodFor):
			}
			_ = c.Close()
		}()
		for {
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	}()
	flooder := channel.Member{Host: []byte{127, 0, 0, 1}, Port: int32(ln.Addr().(*net.TCPAddr).Port), SecurePort: -1, UDPPort: -1}

	cfg := testConfig()
	cfg.Timeout = 300 * time.Millisecond
	a := startNode(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = a.t.Send(ctx, []channel.Member{silent.member(), flooder}, a.msg(channel.OptUseAck, []byte("x")))
	took := time.Since(start)
	if err == nil {
		t.Fatal("send succeeded; neither peer acknowledged")
	}
	if took > floodFor/2 {
		t.Fatalf("Send with Timeout %v and a 500 ms context returned after %v (err %v): the peer streaming non-ACK frames for %v held it",
			cfg.Timeout, took.Round(time.Millisecond), err, floodFor)
	}
}

// The same bound over UDP, checked directly (over loopback no test peer sends datagrams
// faster than the sender reads them): past the deadline readAckDatagram reads at most
// nowReads of the datagrams queued, so an ACK queued behind more datagrams that are not
// ACKs is not reached, and a peer that keeps sending such datagrams cannot hold the send.
func TestUDPAckReadPastTheDeadlineIsBounded(t *testing.T) {
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn, err := net.DialUDP("udp4", nil, peer.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &sconn{conn: conn}
	if c.raw, err = conn.SyscallConn(); err != nil {
		t.Fatal(err)
	}
	junk := wire.AppendFrame(nil, []byte("not an ack"))
	to := conn.LocalAddr().(*net.UDPAddr)
	for range nowReads {
		if _, err := peer.WriteToUDP(junk, to); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := peer.WriteToUDP(wire.AckFrame, to); err != nil {
		t.Fatal(err)
	}
	if kind, err := c.readAckDatagram(1<<20, true); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past the deadline, with %d datagrams before the ACK: kind %v, err %v; want os.ErrDeadlineExceeded after %d reads", nowReads, kind, err, nowReads)
	}
	// The ACK was queued and is still there: the reads stopped before it.
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	if kind, err := c.readAckDatagram(1<<20, false); err != nil || kind != wire.Ack {
		t.Fatalf("the queued ACK: kind %v, err %v", kind, err)
	}
}
