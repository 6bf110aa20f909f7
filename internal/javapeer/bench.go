package javapeer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// BenchResult is the "bench" event of `TribesPeer bench-send`.
type BenchResult struct {
	Count      int     `json:"count"`  // sends attempted in the measured phase
	Failed     int     `json:"failed"` // of those, sends that threw
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgsPerSec"` // successful sends per second
	MBPerSec   float64 `json:"mbPerSec"`   // successful payload bytes / 1e6 per second, every destination counted
	P50us      float64 `json:"p50us"`      // per-send latency of successful sends
	P99us      float64 `json:"p99us"`
	MaxUs      float64 `json:"maxus"`
	Size       int     `json:"size"`
	Options    int     `json:"options"`
	Warmup     int     `json:"warmup"`
	MaxRssKb   int64   `json:"maxRssKb"` // VmHWM of the sending JVM
	FirstError string  `json:"firstError"`
}

// BenchOptions configures RunBenchOpts.
type BenchOptions struct {
	To      string // "host:port:idhex" of the receiver, or several comma separated (each message goes to all)
	Count   int
	Size    int
	Options int // Tribes send options, e.g. 2 (use_ack) or 6 (sync ack)
	Seconds int // time limit of the measured phase; 0 = none (the peer caps it at 600 s)
	Warmup  int // unmeasured sends before the measured phase (they do reach the receiver)
	JVMArgs []string
}

// RunBench runs `bench-send` (one sender thread in a fresh JVM using a real
// GroupChannel) against to and returns the parsed result. It sends
// min(count/10, 2000) unmeasured warm-up messages first, which the receiver
// also gets; use RunBenchOpts to control that. Start the receiving node with
// "--quiet" so that it does not print one JSON line per message.
func RunBench(ctx context.Context, to string, count, size, options int, seconds int) (BenchResult, error) {
	return RunBenchOpts(ctx, BenchOptions{
		To: to, Count: count, Size: size, Options: options, Seconds: seconds,
		Warmup: min(count/10, 2000),
	})
}

// RunBenchOpts is RunBench with all knobs.
func RunBenchOpts(ctx context.Context, o BenchOptions) (BenchResult, error) {
	return o.run(ctx, "bench-send")
}

// RunRawPingPong runs `TribesPeer pingpong` (RawPingPong.java), the raw floor of the acked
// rows of RunBenchOpts: one plain java.net.Socket to o.To (a StartPingPongServer's Member)
// writes the Tribes frame of an o.Size message and waits for the ACK frame, one at a time.
// The result's MsgsPerSec is round trips per second.
func RunRawPingPong(ctx context.Context, o BenchOptions) (BenchResult, error) {
	return o.run(ctx, "pingpong")
}

func (o BenchOptions) run(ctx context.Context, sub string) (BenchResult, error) {
	if o.To == "" || o.Count <= 0 {
		return BenchResult{}, errors.New("javapeer: " + sub + " needs To and Count > 0")
	}
	args := []string{sub, "--to", o.To,
		"--count", strconv.Itoa(o.Count), "--size", strconv.Itoa(o.Size),
		"--options", strconv.Itoa(o.Options), "--warmup", strconv.Itoa(o.Warmup),
		"--bind", "127.0.0.1", "--port", "0"}
	if o.Seconds > 0 {
		args = append(args, "--seconds", strconv.Itoa(o.Seconds))
	}
	return runBench(ctx, o.JVMArgs, args...)
}

// runBench runs a TribesPeer bench subcommand and returns its "bench" event.
func runBench(ctx context.Context, jvmArgs []string, args ...string) (BenchResult, error) {
	out, err := runJava(ctx, jvmArgs, args...)
	var res BenchResult
	found := false
	forEachEvent(out, func(name string, line []byte) {
		if name == "bench" && json.Unmarshal(line, &res) == nil {
			found = true
		}
	})
	if !found {
		if err == nil {
			err = errors.New("no bench event")
		}
		return BenchResult{}, fmt.Errorf("javapeer: %s: %w\nstdout:\n%s", args[0], err, out)
	}
	return res, nil
}

// Golden runs `TribesPeer golden outdir`, which writes the golden byte files
// (see wire/testdata/golden/README.md) after checking them with the Java
// parsers.
func Golden(ctx context.Context, outdir string) error {
	out, err := runJava(ctx, nil, "golden", outdir)
	if err != nil {
		return fmt.Errorf("javapeer: golden: %w\nstdout:\n%s", err, out)
	}
	done := false
	forEachEvent(out, func(name string, _ []byte) { done = done || name == "goldenDone" })
	if !done {
		return fmt.Errorf("javapeer: golden: no goldenDone event\nstdout:\n%s", out)
	}
	return nil
}

// JserialGolden runs `TribesPeer jserial-golden outdir`, which writes the Java
// serialization streams of jserial/testdata (see scripts/gen-golden.sh jserial) after
// reading each back with ObjectInputStream.
func JserialGolden(ctx context.Context, outdir string) error {
	out, err := runJava(ctx, nil, "jserial-golden", outdir)
	if err != nil {
		return fmt.Errorf("javapeer: jserial-golden: %w\nstdout:\n%s", err, out)
	}
	done := false
	forEachEvent(out, func(name string, _ []byte) { done = done || name == "jserialGoldenDone" })
	if !done {
		return fmt.Errorf("javapeer: jserial-golden: no jserialGoldenDone event\nstdout:\n%s", out)
	}
	return nil
}

// runJava runs one TribesPeer subcommand to completion and returns stdout;
// the error includes the stderr tail.
func runJava(ctx context.Context, jvmArgs []string, args ...string) ([]byte, error) {
	if reason, ok := Available(); !ok {
		return nil, errors.New("javapeer: " + reason + " (" + SkipReason + ")")
	}
	cp, err := Build()
	if err != nil {
		return nil, err
	}
	full := append([]string{}, jvmArgs...)
	full = append(full, javaArgs(cp)...)
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, "java", full...) // ctx cancel kills this PID only
	var stdout bytes.Buffer
	stderr := newTailBuffer(stderrTail)
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%v\nstderr:\n%s", err, stderr.String())
	}
	return stdout.Bytes(), nil
}

func forEachEvent(out []byte, f func(name string, line []byte)) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		var head struct {
			Event string `json:"event"`
		}
		if json.Unmarshal(sc.Bytes(), &head) == nil && head.Event != "" {
			f(head.Event, sc.Bytes())
		}
	}
}
