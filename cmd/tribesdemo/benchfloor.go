package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/transport/nio"
	"github.com/gotribes/tribes/wire"
)

// rawFloorMode is the mode of the rows measureRawFloor returns.
const rawFloorMode = "raw ping-pong"

// rawFloorSizes are the sizes whose acked rows get a raw ping-pong floor: the small ones
// (below 64 KiB), when some mode waits for ACKs.
func rawFloorSizes(sizes []int, modes []string) []int {
	if !slices.Contains(modes, "use_ack") && !slices.Contains(modes, "sync") {
		return nil
	}
	var fs []int
	for _, s := range sizes {
		if s < 64<<10 && !slices.Contains(fs, s) {
			fs = append(fs, s)
		}
	}
	return fs
}

// measureRawFloor measures the raw ping-pong of size-byte messages in run's order of the
// sides (inRunOrder), Java when javaSrv is not nil: the same bytes on the wire as an acked
// row, over plain TCP.
func measureRawFloor(ctx context.Context, run int, exe string, goSrv *goProc, javaSrv *javapeer.Peer, size, seconds int) benchRow {
	const count, warm = 10_000_000, 2000
	r := benchRow{size: size, receivers: 1, mode: rawFloorMode, javaSkipped: javaSrv == nil}
	inRunOrder(run, func() {
		r.goRes, r.goErr = goSummary(ctx, exe, "pingpong", "--to", goSrv.member, "--count", strconv.Itoa(count),
			"--size", strconv.Itoa(size), "--options", strconv.Itoa(benchModes["use_ack"]),
			"--seconds", strconv.Itoa(seconds), "--warmup", strconv.Itoa(warm))
	}, func() {
		if javaSrv != nil {
			r.javaRes, r.javaErr = javapeer.RunRawPingPong(ctx, javapeer.BenchOptions{To: javaSrv.Member(), Count: count,
				Size: size, Options: benchModes["use_ack"], Seconds: seconds, Warmup: warm})
		}
	})
	return r
}

// printRawFloors prints each size's raw ping-pong rate on both sides and, for every acked
// row to one receiver of that size, its rate as a share of its own side's ping-pong.
func printRawFloors(w io.Writer, rows, floors []benchRow) {
	if len(floors) == 0 {
		return
	}
	fmt.Fprintln(w, "\nraw ping-pong, one loopback TCP connection, the row's Tribes frame out and an ACK frame back, one at a time:")
	for _, f := range floors {
		line := fmt.Sprintf("%s raw ping-pong Go %s", sizeLabel(f.size), floorRate(f.goRes.MsgsPerSec, f.goRes.P50us, f.goErr))
		if !f.javaSkipped {
			line += ", Java " + floorRate(f.javaRes.MsgsPerSec, f.javaRes.P50us, f.javaErr)
		}
		fmt.Fprintln(w, line)
		for _, r := range rows {
			if r.size != f.size || r.receivers != 1 || r.mode == "none" {
				continue
			}
			line := fmt.Sprintf("%s %s: Go %s of Go's raw ping-pong", sizeLabel(r.size), r.mode,
				share(r.goRes.MsgsPerSec, r.goErr, f.goRes.MsgsPerSec, f.goErr))
			if !f.javaSkipped && !r.javaSkipped {
				line += fmt.Sprintf(", Java %s of Java's", share(r.javaRes.MsgsPerSec, r.javaErr, f.javaRes.MsgsPerSec, f.javaErr))
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, f := range floors {
		if f.goErr != nil {
			fmt.Fprintf(w, "Go %s raw ping-pong: %v\n", sizeLabel(f.size), f.goErr)
		}
		if f.javaErr != nil {
			fmt.Fprintf(w, "Java %s raw ping-pong: %v\n", sizeLabel(f.size), f.javaErr)
		}
	}
}

func floorRate(perSec, p50us float64, err error) string {
	if err != nil {
		return "error"
	}
	return fmt.Sprintf("%.0f/s (p50 %.0f µs)", perSec, p50us)
}

// share is rate as a percentage of floor, or "-" when either is missing.
func share(rate float64, err error, floor float64, floorErr error) string {
	if err != nil || floorErr != nil || floor <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*rate/floor)
}

// rawTCP holds the medians of bench's raw loopback TCP baselines of its 1 MiB rows, MB/s:
// streaming between two goroutines of bench (rawTCPMBps) with the OS's socket buffers (os)
// and with the Go sender's SO_SNDBUF (buf), and pingpong's 1 MiB frames and ACKs between
// two processes with the Go sender's and receiver's socket buffers (acked, ackedFloorMBps;
// 0 when no mode waits for ACKs, or when no run measured it). ackedErr is the first run's
// failure to measure the acked one, ackedFailed how many runs failed so: with no run
// measured, the acked shares print as n/a with that reason, never as a share of 0.
type rawTCP struct {
	os, buf, acked float64
	ackedErr       error
	ackedFailed    int
}

// ackedNote is how the acked baseline prints: its MB/s, with the runs that failed to
// measure it, or n/a and why when none did; "" when it was not measured (no acked mode).
func (raw rawTCP) ackedNote() string {
	switch {
	case raw.acked > 0 && raw.ackedErr != nil:
		return fmt.Sprintf("%.0f MB/s (%d run(s) failed, not counted: %v)", raw.acked, raw.ackedFailed, raw.ackedErr)
	case raw.acked > 0:
		return fmt.Sprintf("%.0f MB/s", raw.acked)
	case raw.ackedErr != nil:
		return fmt.Sprintf("n/a (%v)", raw.ackedErr)
	}
	return ""
}

// medianFloat is the median of xs (it sorts xs), 0 of none.
func medianFloat(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return medianOf(xs, func(v float64) float64 { return v }, func(a, b float64) float64 { return (a + b) / 2 })
}

// printRawTCP prints the raw TCP baselines and, for every 1 MiB row to one receiver, its
// MB/s as a share of each: every row of the two streaming ones, the acked rows of the acked
// one, Java's in the same order.
func printRawTCP(w io.Writer, rows []benchRow, raw rawTCP) {
	line := fmt.Sprintf("\nraw loopback TCP, 1 MiB writes, one connection: %.0f MB/s with the OS's socket buffers, %.0f MB/s with the Go sender's SO_SNDBUF (%d)",
		raw.os, raw.buf, nio.DefaultSenderTxBufSize)
	if note := raw.ackedNote(); note != "" {
		line += fmt.Sprintf("; acked, pingpong between two processes (each 1 MiB frame answered by a %d-byte ACK frame before the next, the Go sender's and receiver's socket buffers): %s",
			len(wire.AckFrame), note)
	}
	fmt.Fprintln(w, line)
	for _, r := range rows {
		if r.size != 1<<20 || r.receivers != 1 || raw.os <= 0 || raw.buf <= 0 {
			continue
		}
		withAck := r.mode != "none" && (raw.acked > 0 || raw.ackedErr != nil)
		pct := func(mbps, of float64) string {
			if of <= 0 {
				return "n/a"
			}
			return fmt.Sprintf("%.0f%%", 100*mbps/of)
		}
		line := fmt.Sprintf("1MiB %-8s Go error", r.mode)
		if r.goErr == nil {
			line = fmt.Sprintf("1MiB %-8s Go %s of raw TCP (%s of raw TCP with the same SO_SNDBUF", r.mode,
				pct(r.goRes.MBPerSec, raw.os), pct(r.goRes.MBPerSec, raw.buf))
			switch {
			case withAck && raw.acked <= 0:
				line += ", raw acked TCP n/a (its baseline failed: see above)"
			case withAck:
				line += ", " + pct(r.goRes.MBPerSec, raw.acked) + " of raw acked TCP"
			}
			line += ")"
		}
		if !r.javaSkipped && r.javaErr == nil {
			line += fmt.Sprintf(", Java %s (%s", pct(r.javaRes.MBPerSec, raw.os), pct(r.javaRes.MBPerSec, raw.buf))
			if withAck {
				line += ", " + pct(r.javaRes.MBPerSec, raw.acked)
			}
			line += ")"
		}
		fmt.Fprintln(w, line)
	}
}
