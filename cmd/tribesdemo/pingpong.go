package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// runPingPong is the hidden "pingpong" command, bench's floor for its acked rows (the small
// ones', and the baseline of its acked 1 MiB rows): a request/reply over one plain loopback
// TCP connection carrying the bytes of such a row, the Tribes frame of a --size message out
// and an ACK frame back, one at a time, with no Tribes code on either side but the byte
// formats. "--serve" answers every frame with an ACK and prints a "started" line with its
// member text; "--to host:port:id" sends and prints a summary line like send's. --sndbuf and
// --rcvbuf set the SO_SNDBUF and SO_RCVBUF of the server's accepted connections or of the
// client's (0, the default: the OS's), so that the 1 MiB baseline has the Go sender's and
// receiver's socket buffers.
func runPingPong(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pingpong", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serve := fs.Bool("serve", false, "answer frames with ACKs on 127.0.0.1, a free port, until interrupted")
	to := fs.String("to", "", "host:port:id of a \"pingpong --serve\"")
	count := fs.Int("count", 10_000_000, "round trips at most")
	size := fs.Int("size", 64, "message size in bytes")
	options := fs.Int("options", int(channel.OptByteMessage|channel.OptUseAck), "the frame's options field")
	seconds := fs.Int("seconds", 3, "measured seconds")
	warmup := fs.Int("warmup", 2000, "unmeasured round trips first")
	sndbuf := fs.Int("sndbuf", 0, "SO_SNDBUF of the connection(s) in bytes; 0 for the OS's")
	rcvbuf := fs.Int("rcvbuf", 0, "SO_RCVBUF of the connection(s) in bytes; 0 for the OS's")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tribesdemo pingpong --serve | --to host:port:id [flags]\n\nbench's raw floor: Tribes frames out and ACK frames back over plain TCP, one at a time.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// setsockopt takes a C int: a larger size would be cut to 32 bits with no error.
	if *sndbuf < 0 || *rcvbuf < 0 || *sndbuf > math.MaxInt32 || *rcvbuf > math.MaxInt32 {
		return fmt.Errorf("%w: --sndbuf and --rcvbuf from 0 to %d", errUsage, math.MaxInt32)
	}
	bufs := sockBufs{snd: *sndbuf, rcv: *rcvbuf}
	if *serve {
		return servePingPong(ctx, stdout, bufs)
	}
	if *to == "" || *count < 1 || *size < 0 || *seconds < 1 || *warmup < 0 {
		return fmt.Errorf("%w: --serve or --to, --count >= 1, --size >= 0, --seconds >= 1, --warmup >= 0", errUsage)
	}
	if err := checkSize(*size, 0); err != nil {
		return err
	}
	m, err := wire.ParseMemberText(*to)
	if err != nil {
		return fmt.Errorf("%w: --to: %v", errUsage, err)
	}
	res, err := pingPong(ctx, m.Addr(), *count, *size, uint32(*options), *warmup, time.Duration(*seconds)*time.Second, bufs)
	newLineWriter(stdout).emit(res)
	return err
}

// sockBufs are the socket buffer sizes pingpong sets on its connections; 0 leaves one the
// OS's.
type sockBufs struct{ snd, rcv int }

// set sets c's buffers and calls pingPongBuffersHook with end, if set.
func (b sockBufs) set(end string, c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		if b.snd > 0 {
			_ = tc.SetWriteBuffer(b.snd)
		}
		if b.rcv > 0 {
			_ = tc.SetReadBuffer(b.rcv)
		}
	}
	if pingPongBuffersHook != nil {
		pingPongBuffersHook(end, c)
	}
}

// pingPongBuffersHook, nil but in tests, is called with each connection of pingpong's
// server ("server") and client ("client") once its socket buffers are set
// (TestPingPongBuffers).
var pingPongBuffersHook func(end string, c net.Conn)

// servePingPong answers every frame on every connection with an ACK frame until ctx ends.
func servePingPong(ctx context.Context, stdout io.Writer, bufs sockBufs) error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	self := channel.Member{Host: net.IPv4(127, 0, 0, 1).To4(), Port: int32(port), SecurePort: -1, UDPPort: -1}
	copy(self.UniqueID[:], channel.NewMessageID())
	newLineWriter(stdout).emit(struct {
		Event  string     `json:"event"`
		Member jsonMember `json:"member"`
	}{"started", toJSON(self)})
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	stopped := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer stopped()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		bufs.set("server", c)
		mu.Lock()
		conns[c] = true
		mu.Unlock()
		wg.Go(func() {
			_ = ackFrames(c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		})
	}
}

// ackFrames reads frames from c and writes an ACK frame after each, until c fails or ends.
// It reads through a 64 KiB buffer, and the rest of a frame of 64 KiB or more straight into
// one reused buffer (up to 1 MiB a read), as a Tribes receiver reads a large frame up to its
// end.
func ackFrames(c net.Conn) error {
	br := bufio.NewReaderSize(c, 64<<10)
	var large []byte
	for {
		head, err := br.Peek(wire.FrameHeaderLen)
		if err != nil {
			return err
		}
		n, err := wire.PeekFrameLen(head, 0)
		if err != nil {
			return err
		}
		if rest := n - br.Buffered(); rest <= 0 || n < br.Size() {
			if _, err := br.Discard(n); err != nil {
				return err
			}
		} else {
			_, _ = br.Discard(br.Buffered())
			if large == nil {
				large = make([]byte, 1<<20)
			}
			for rest > 0 {
				// bufio reads straight into large: its own buffer is empty and large bigger.
				k, err := io.ReadFull(br, large[:min(rest, len(large))])
				if err != nil {
					return err
				}
				rest -= k
			}
		}
		if _, err := c.Write(wire.AckFrame); err != nil {
			return err
		}
	}
}

// pingPong sends warmup frames, then frames for d (count at most), each waiting for its ACK,
// to addr over one connection, and returns a summary like send's.
func pingPong(ctx context.Context, addr string, count, size int, options uint32, warmup int, d time.Duration, bufs sockBufs) (sendResult, error) {
	res := sendResult{Event: "summary", Members: 1, Size: size, Options: channel.SendOptions(options).String()}
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return res, err
	}
	defer c.Close()
	bufs.set("client", c)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	// The sender member in the frame: what a node on this connection's address would send.
	local := c.LocalAddr().(*net.TCPAddr)
	self := channel.Member{Host: local.IP.To4(), Port: int32(local.Port), SecurePort: -1, UDPPort: -1, AliveTime: 1}
	copy(self.UniqueID[:], channel.NewMessageID())
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*7 + 1)
	}
	frame := wire.AppendChannelDataFrame(nil, options, time.Now().UnixMilli(), channel.NewMessageID(), wire.AppendMember(nil, &self), payload)
	ack := make([]byte, len(wire.AckFrame))
	roundTrip := func() error {
		if _, err := c.Write(frame); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, ack); err != nil {
			return err
		}
		if !bytes.Equal(ack, wire.AckFrame) {
			return errors.New("pingpong: the reply is not an ACK frame")
		}
		return nil
	}
	for range warmup {
		if err := roundTrip(); err != nil {
			return res, err
		}
	}
	lat := make([]time.Duration, 0, min(count, 1<<20))
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	work0 := readWork(os.Getpid())
	start := time.Now()
	for res.Sent < int64(count) && time.Since(start) < d {
		t0 := time.Now()
		if err := roundTrip(); err != nil {
			return res, err
		}
		res.Sent++
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	res.summarize(lat, time.Since(start), work0, &ms0)
	return res, nil
}
