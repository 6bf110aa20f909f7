package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/wire"
)

// runPingPong is the hidden "pingpong" command, bench's floor for its acked small-message
// rows: a request/reply over one plain loopback TCP connection carrying the bytes of such a
// row, the Tribes frame of a --size message out and an ACK frame back, one at a time, with no
// Tribes code on either side but the byte formats. "--serve" answers every frame with an ACK
// and prints a "started" line with its member text; "--to host:port:id" sends and prints a
// summary line like send's.
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tribesdemo pingpong --serve | --to host:port:id [flags]\n\nbench's raw floor: Tribes frames out and ACK frames back over plain TCP, one at a time.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *serve {
		return servePingPong(ctx, stdout)
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
	res, err := pingPong(ctx, m.Addr(), *count, *size, uint32(*options), *warmup, time.Duration(*seconds)*time.Second)
	newLineWriter(stdout).emit(res)
	return err
}

// servePingPong answers every frame on every connection with an ACK frame until ctx ends.
func servePingPong(ctx context.Context, stdout io.Writer) error {
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
func ackFrames(c net.Conn) error {
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		head, err := br.Peek(wire.FrameHeaderLen)
		if err != nil {
			return err
		}
		n, err := wire.PeekFrameLen(head, 0)
		if err != nil {
			return err
		}
		if _, err := br.Discard(n); err != nil {
			return err
		}
		if _, err := c.Write(wire.AckFrame); err != nil {
			return err
		}
	}
}

// pingPong sends warmup frames, then frames for d (count at most), each waiting for its ACK,
// to addr over one connection, and returns a summary like send's.
func pingPong(ctx context.Context, addr string, count, size int, options uint32, warmup int, d time.Duration) (sendResult, error) {
	res := sendResult{Event: "summary", Members: 1, Size: size, Options: channel.SendOptions(options).String()}
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return res, err
	}
	defer c.Close()
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
