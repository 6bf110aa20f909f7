package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/gotribes/tribes/internal/procfs"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

type goProc struct {
	cmd    *exec.Cmd
	member string
	done   chan struct{}
}

// startGoNode starts a receiving node on the receiver engine named; procs > 0 sets its
// GOMAXPROCS.
func startGoNode(ctx context.Context, exe string, seconds int, onLoop bool, engine string, procs int) (*goProc, error) {
	args := []string{"node", "--port", "0", "--quiet", "--seconds", strconv.Itoa(seconds), "--engine", engine}
	if onLoop {
		args = append(args, "--deliver-on-loop")
	}
	return startGoProc(ctx, exe, procs, args...)
}

// startGoProc runs tribesdemo with args, a command whose first line is a "started" event
// with its member; procs > 0 sets its GOMAXPROCS.
func startGoProc(ctx context.Context, exe string, procs int, args ...string) (*goProc, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	if procs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &goProc{cmd: cmd, done: make(chan struct{})}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("tribesdemo %s printed nothing", args[0])
	}
	var ev struct {
		Event  string     `json:"event"`
		Member jsonMember `json:"member"`
	}
	if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Event != "started" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("tribesdemo %s: unexpected first line %q", args[0], sc.Text())
	}
	p.member = fmt.Sprintf("%s:%d:%s", ev.Member.Host, ev.Member.Port, ev.Member.ID)
	go func() {
		defer close(p.done)
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	return p, nil
}

func (p *goProc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func goSend(ctx context.Context, exe, to string, count, size int, mode string, seconds, conc, warmup int) (sendResult, error) {
	return goSummary(ctx, exe, "send", "--port", "0", "--static", to, "--count", strconv.Itoa(count),
		"--size", strconv.Itoa(size), "--options", strconv.Itoa(benchModes[mode]), "--warmup", strconv.Itoa(warmup),
		"--seconds", strconv.Itoa(seconds), "--concurrency", strconv.Itoa(conc))
}

// goSummary runs tribesdemo with args and returns its successful "summary" line.
func goSummary(ctx context.Context, exe string, args ...string) (sendResult, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var res sendResult
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, `"summary"`) {
			if jerr := json.Unmarshal([]byte(line), &res); jerr == nil {
				// A send cut short by --seconds is the normal end of a timed run.
				if res.Sent > 0 && res.Failed == 0 {
					return res, nil
				}
			}
		}
	}
	if err == nil {
		err = errors.New("no successful sends")
	}
	return res, fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
}

// rawTCPMBps measures one loopback TCP connection carrying chunk-sized writes for d, read
// into one reused buffer of chunk bytes: the write and read sizes of a Tribes receiver,
// which reads a large frame up to its end, without the framing. A positive sndbuf sets
// the writer's SO_SNDBUF (as nio's Config.SenderTxBufSize does); otherwise the OS's
// default (and Linux's auto-tuning) applies. With ack, the reader reads each chunk whole
// and answers with an ACK frame (wire.AckFrame), which the writer reads before its next
// write: the protocol of a row with ACKs, one message in flight, and then the writer's
// SO_RCVBUF and the reader's SO_SNDBUF are the Go sender's and receiver's too
// (nio.DefaultSenderRxBufSize, nio.DefaultTxBufSize); only acknowledged chunks count.
func rawTCPMBps(ctx context.Context, chunk int, d time.Duration, sndbuf int, ack bool) float64 {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		buf := make([]byte, chunk)
		var n int64
		if ack {
			setBuffers(c, 0, nio.DefaultTxBufSize)
			if rawTCPBuffersHook != nil {
				rawTCPBuffersHook("reader", c)
			}
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					break
				}
				if _, err := c.Write(wire.AckFrame); err != nil {
					break
				}
				n += int64(chunk)
			}
			got <- n
			return
		}
		for {
			k, err := c.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		got <- n
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return 0
	}
	if sndbuf > 0 {
		_ = c.(*net.TCPConn).SetWriteBuffer(sndbuf)
	}
	if ack {
		setBuffers(c, nio.DefaultSenderRxBufSize, 0)
		if rawTCPBuffersHook != nil {
			rawTCPBuffersHook("writer", c)
		}
		acked, elapsed := ackedWrites(ctx, c, chunk, d)
		c.Close()
		<-got
		if acked == 0 {
			return 0
		}
		return float64(acked) / elapsed.Seconds() / 1e6
	}
	buf := make([]byte, chunk)
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			break
		}
	}
	c.Close()
	n := <-got
	return float64(n) / time.Since(start).Seconds() / 1e6
}

// rawTCPBuffersHook, nil but in tests, is called with each end of the acked raw baseline's
// connection ("writer", "reader") once its socket buffers are set
// (TestRawTCPAckedBuffers).
var rawTCPBuffersHook func(end string, c net.Conn)

// ackedWrites writes chunk bytes to c and reads an ACK frame back, again and again for d
// (or until ctx ends, a call fails or the reply is not wire.AckFrame), and returns the
// bytes acknowledged and the time taken.
func ackedWrites(ctx context.Context, c net.Conn, chunk int, d time.Duration) (int64, time.Duration) {
	buf := make([]byte, chunk)
	reply := make([]byte, len(wire.AckFrame))
	var acked int64
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			break
		}
		if _, err := io.ReadFull(c, reply); err != nil || !bytes.Equal(reply, wire.AckFrame) {
			break
		}
		acked += int64(chunk)
	}
	return acked, time.Since(start)
}

// setBuffers sets c's SO_RCVBUF to rx and SO_SNDBUF to tx where they are positive.
func setBuffers(c net.Conn, rx, tx int) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	if rx > 0 {
		_ = tc.SetReadBuffer(rx)
	}
	if tx > 0 {
		_ = tc.SetWriteBuffer(tx)
	}
}

// procHWM is a process's peak resident set (VmHWM) in KiB, or 0 where /proc is missing.
func procHWM(pid int) int64 {
	st, err := procfs.Status(pid)
	if err != nil {
		return 0
	}
	return int64(st["VmHWM"] >> 10)
}

// procWork is what /proc tells of a process's (or several processes') CPU time and context
// switches so far; the zero value where /proc is missing.
type procWork struct {
	cpu      time.Duration
	switches uint64
}

func readWork(pid int) procWork {
	t, err := procfs.Stat(pid)
	if err != nil {
		return procWork{}
	}
	cs, _ := procfs.ContextSwitches(pid)
	return procWork{cpu: t.CPU(), switches: cs}
}

func (w procWork) add(o procWork) procWork {
	return procWork{cpu: w.cpu + o.cpu, switches: w.switches + o.switches}
}

// since is the work done after o (threads that exited since o are not counted in switches).
func (w procWork) since(o procWork) procWork {
	if w.switches < o.switches {
		w.switches = o.switches
	}
	return procWork{cpu: w.cpu - o.cpu, switches: w.switches - o.switches}
}

// perMsg returns the CPU time in µs and the context switches per message of n messages.
func (w procWork) perMsg(n int64) (cpuUs, switches float64) {
	if n <= 0 {
		return 0, 0
	}
	return float64(w.cpu.Microseconds()) / float64(n), float64(w.switches) / float64(n)
}
