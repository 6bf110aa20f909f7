package main

import (
	"bufio"
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

// rawTCPMBps measures one loopback TCP connection between two goroutines of this process
// carrying chunk-sized writes for d, read into one reused buffer of chunk bytes: the write
// and read sizes of a Tribes receiver, which reads a large frame up to its end, without the
// framing. A positive sndbuf sets the writer's SO_SNDBUF (as nio's Config.SenderTxBufSize
// does); otherwise the OS's default (and Linux's auto-tuning) applies. These are bench's
// streaming baselines; its acked one is ackedFloorMBps.
func rawTCPMBps(ctx context.Context, chunk int, d time.Duration, sndbuf int) float64 {
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

// ackedFloorServeArgs are the arguments of the pingpong server of bench's acked 1 MiB
// baseline: the Go receiver's SO_SNDBUF (nio.DefaultTxBufSize) and the OS's SO_RCVBUF
// (nio.DefaultRxBufSize is -1: Linux's auto-tuning).
func ackedFloorServeArgs() []string {
	return []string{"pingpong", "--serve", "--sndbuf", strconv.Itoa(nio.DefaultTxBufSize)}
}

// ackedFloorArgs are the arguments of the client of bench's acked 1 MiB baseline, to
// server for seconds: 1 MiB Tribes frames (use_ack) out and ACK frames back, one at a time,
// with the Go sender's SO_SNDBUF and SO_RCVBUF (nio.DefaultSenderTxBufSize,
// nio.DefaultSenderRxBufSize), 20 round trips of warm-up as the 1 MiB rows have.
func ackedFloorArgs(server string, seconds int) []string {
	return []string{"pingpong", "--to", server, "--size", strconv.Itoa(1 << 20),
		"--options", strconv.Itoa(benchModes["use_ack"]), "--seconds", strconv.Itoa(seconds), "--warmup", "20",
		"--sndbuf", strconv.Itoa(nio.DefaultSenderTxBufSize), "--rcvbuf", strconv.Itoa(nio.DefaultSenderRxBufSize)}
}

// ackedFloorMBps measures bench's acked 1 MiB baseline against srv (a pingpong server
// started with ackedFloorServeArgs) from a pingpong process: MB/s of the messages
// acknowledged, counted as a row's are (the payload), or why it could not be measured
// (the process failed, or acknowledged nothing).
func ackedFloorMBps(ctx context.Context, exe string, srv *goProc, seconds int) (float64, error) {
	res, err := goSummary(ctx, exe, ackedFloorArgs(srv.member, seconds)...)
	if err != nil {
		return 0, fmt.Errorf("acked 1 MiB baseline: %w", err)
	}
	if res.MBPerSec <= 0 {
		return 0, fmt.Errorf("acked 1 MiB baseline: %d messages at %g MB/s", res.Sent, res.MBPerSec)
	}
	return res.MBPerSec, nil
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
