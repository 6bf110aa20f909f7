package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gotribes/tribes/internal/javapeer"
	"github.com/gotribes/tribes/transport/nio"
)

// benchRow is one workload measured on both sides.
type benchRow struct {
	size        int
	receivers   int // each message goes to this many receivers
	mode        string
	goRes       sendResult
	javaRes     javapeer.BenchResult
	goErr       error
	javaErr     error
	javaSkipped bool
}

var benchModes = map[string]int{"none": 1, "use_ack": 3, "sync": 7}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizesF := fs.String("sizes", "64,1024,65536,1048576", "message sizes in bytes, comma separated")
	modesF := fs.String("modes", "none,use_ack,sync", "ack modes: none, use_ack, sync")
	seconds := fs.Int("seconds", 3, "measured seconds per workload and side")
	javaF := fs.String("java", "auto", "measure Java Tribes too: auto (if installed), on, off")
	conc := fs.Int("concurrency", 1, "Go sender goroutines (Java's bench uses one sender thread)")
	fanout := fs.Int("fanout", 4, "receivers of the fan-out rows (each message goes to all of them); 0 for none")
	fanoutSizesF := fs.String("fanout-sizes", "1024", "message sizes of the fan-out rows, comma separated")
	onLoop := fs.Bool("deliver-on-loop", false, "Go receivers deliver on their event loops (node --deliver-on-loop)")
	engine := fs.String("engine", string(nio.DefaultEngine), fmt.Sprintf("receiver engine of the Go receivers (node --engine): %q or %q",
		nio.EngineGnet, nio.EngineGoroutine))
	runs := fs.Int("runs", 1, "runs of every row, Go first in odd runs and Java first in even ones; each side's median by msgs/s is reported (of an even number, the mean of the two middle runs)")
	rxProcs := fs.Int("receiver-procs", 0, "GOMAXPROCS of the Go receiver processes; 0 for the runtime's default (the CPUs)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tribesdemo bench [flags]\n\nRuns the same workloads Go→Go and Java→Java (the project's Java peer on Debian's\ntomcat10-tribes.jar) in one run, each sender and receiver in its own process on\n127.0.0.1, and prints msgs/s, MB/s, latency, memory and the Go/Java ratios.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sizes, err := parseSizes("sizes", *sizesF)
	if err != nil {
		return err
	}
	var fanoutSizes []int
	if *fanout > 1 {
		if fanoutSizes, err = parseSizes("fanout-sizes", *fanoutSizesF); err != nil {
			return err
		}
	}
	if *fanout < 0 || *fanout > 16 {
		return fmt.Errorf("%w: --fanout 0..16", errUsage)
	}
	if *runs < 1 || *runs > 9 {
		return fmt.Errorf("%w: --runs 1..9", errUsage)
	}
	if *rxProcs < 0 {
		return fmt.Errorf("%w: --receiver-procs must be >= 0", errUsage)
	}
	if !slices.Contains(nio.Engines(), nio.Engine(*engine)) {
		return fmt.Errorf("%w: --engine: unknown %q", errUsage, *engine)
	}
	var modes []string
	for _, m := range strings.Split(*modesF, ",") {
		m = strings.TrimSpace(m)
		if _, ok := benchModes[m]; !ok {
			return fmt.Errorf("%w: --modes: unknown %q", errUsage, m)
		}
		modes = append(modes, m)
	}
	if *seconds < 1 || *seconds > 60 {
		return fmt.Errorf("%w: --seconds 1..60", errUsage)
	}
	if *conc < 1 {
		return fmt.Errorf("%w: --concurrency must be >= 1", errUsage)
	}
	var useJava bool
	switch *javaF {
	case "on":
		useJava = true
	case "auto":
		_, useJava = javapeer.Available()
	case "off":
	default:
		return fmt.Errorf("%w: --java is auto, on or off, not %q", errUsage, *javaF)
	}
	if useJava {
		if reason, ok := javapeer.Available(); !ok {
			return fmt.Errorf("java benchmark asked for but unavailable: %s", reason)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	floorSizes := rawFloorSizes(sizes, modes)
	total := *runs*((len(sizes)+len(fanoutSizes))*len(modes)*(*seconds+5)*2+len(floorSizes)*(*seconds+5)*2+3*(*seconds)) + 60
	ctx, cancel := context.WithTimeout(ctx, time.Duration(total)*time.Second)
	defer cancel()

	nrx := max(1, *fanout)
	fmt.Fprintf(stderr, "starting %d Go receivers\n", nrx)
	var goRx []*goProc
	defer func() {
		for _, p := range goRx {
			p.stop()
		}
	}()
	for range nrx {
		p, err := startGoNode(ctx, exe, total, *onLoop, *engine, *rxProcs)
		if err != nil {
			return err
		}
		goRx = append(goRx, p)
	}
	var goFloor *goProc
	if len(floorSizes) > 0 {
		if goFloor, err = startGoProc(ctx, exe, *rxProcs, "pingpong", "--serve"); err != nil {
			return err
		}
		defer goFloor.stop()
	}
	acked := slices.Contains(modes, "use_ack") || slices.Contains(modes, "sync")
	var ackedFloor *goProc // the acked 1 MiB rows' baseline: a pingpong server with the Go receiver's buffers
	if acked {
		if ackedFloor, err = startGoProc(ctx, exe, *rxProcs, ackedFloorServeArgs()...); err != nil {
			return err
		}
		defer ackedFloor.stop()
	}
	var jps []*javapeer.Peer
	defer func() {
		for _, p := range jps {
			p.Stop()
		}
	}()
	var javaFloor *javapeer.Peer
	if useJava {
		fmt.Fprintf(stderr, "starting %d Java receivers\n", nrx)
		for range nrx {
			jp, err := javapeer.StartNode(ctx, "--quiet", "--seconds", strconv.Itoa(total))
			if err != nil {
				return fmt.Errorf("java receiver: %w", err)
			}
			jps = append(jps, jp)
		}
		if len(floorSizes) > 0 {
			if javaFloor, err = javapeer.StartPingPongServer(ctx, "--seconds", strconv.Itoa(total)); err != nil {
				return fmt.Errorf("java ping-pong server: %w", err)
			}
			defer javaFloor.Stop()
		}
	}
	// to lists the first n receivers of a side, comma separated.
	goTo := func(n int) string {
		var l []string
		for _, p := range goRx[:n] {
			l = append(l, p.member)
		}
		return strings.Join(l, ",")
	}
	javaTo := func(n int) string {
		var l []string
		for _, p := range jps[:n] {
			l = append(l, p.Member())
		}
		return strings.Join(l, ",")
	}
	type workload struct{ size, receivers int }
	var work []workload
	for _, size := range sizes {
		work = append(work, workload{size, 1})
	}
	for _, size := range fanoutSizes {
		work = append(work, workload{size, nrx})
	}
	// Each run measures every row on both sides, Go first in odd runs and Java first in
	// even ones (inRunOrder); the rows report each side's median of the runs (medianRows),
	// so that the runs of the two sides alternate in time.
	var runsRows, runsFloors [][]benchRow
	var raws, rawsBuf, rawsAck []float64
	var ackedErrs []error // the runs whose acked baseline failed
	for run := range *runs {
		var rows, floors []benchRow
		for _, w := range work {
			for _, mode := range modes {
				r := benchRow{size: w.size, receivers: w.receivers, mode: mode}
				count := 10_000_000
				warm := 2000
				if w.size >= 1<<20 {
					warm = 20
				} else if w.size >= 64<<10 {
					warm = 200
				}
				fmt.Fprintf(stderr, "run %d, size %d to %d, %s:", run+1, w.size, w.receivers, mode)
				r.javaSkipped = jps == nil
				inRunOrder(run, func() {
					fmt.Fprintf(stderr, " Go…")
					var rx0 procWork
					for _, p := range goRx[:w.receivers] {
						rx0 = rx0.add(readWork(p.cmd.Process.Pid))
					}
					r.goRes, r.goErr = goSend(ctx, exe, goTo(w.receivers), count, w.size, mode, *seconds, *conc, warm)
					var rx1 procWork
					for _, p := range goRx[:w.receivers] {
						rx1 = rx1.add(readWork(p.cmd.Process.Pid))
					}
					// The receivers' figures include the warm-up messages, which they processed too.
					r.goRes.RxCPUusPerMsg, r.goRes.RxSwitchesPerMsg = rx1.since(rx0).perMsg(int64(w.receivers) * (int64(warm) + r.goRes.Sent))
				}, func() {
					if jps != nil {
						fmt.Fprintf(stderr, " Java…")
						r.javaRes, r.javaErr = javapeer.RunBenchOpts(ctx, javapeer.BenchOptions{To: javaTo(w.receivers), Count: count,
							Size: w.size, Options: benchModes[mode], Seconds: *seconds, Warmup: warm})
					}
				})
				fmt.Fprintln(stderr)
				rows = append(rows, r)
			}
			if w.receivers == 1 && slices.Contains(floorSizes, w.size) {
				fmt.Fprintf(stderr, "run %d, size %d, raw ping-pong\n", run+1, w.size)
				floors = append(floors, measureRawFloor(ctx, run, exe, goFloor, javaFloor, w.size, *seconds))
			}
		}
		runsRows = append(runsRows, rows)
		runsFloors = append(runsFloors, floors)
		d := time.Duration(*seconds) * time.Second
		raws = append(raws, rawTCPMBps(ctx, 1<<20, d, -1))
		rawsBuf = append(rawsBuf, rawTCPMBps(ctx, 1<<20, d, nio.DefaultSenderTxBufSize))
		if acked {
			if mbps, err := ackedFloorMBps(ctx, exe, ackedFloor, *seconds); err != nil {
				fmt.Fprintf(stderr, "run %d: %v\n", run+1, err)
				ackedErrs = append(ackedErrs, err)
			} else {
				rawsAck = append(rawsAck, mbps)
			}
		}
	}
	rows := medianRows(runsRows)
	var floors []benchRow
	if len(floorSizes) > 0 {
		floors = medianRows(runsFloors)
	}
	raw := rawTCP{os: medianFloat(raws), buf: medianFloat(rawsBuf), acked: medianFloat(rawsAck)}
	if len(ackedErrs) > 0 {
		raw.ackedErr, raw.ackedFailed = ackedErrs[0], len(ackedErrs)
	}

	delivery := ", Go receivers on engine " + *engine
	if *onLoop {
		delivery = ", Go receivers deliver on the event loop"
	}
	if *rxProcs > 0 {
		delivery += fmt.Sprintf(", Go receivers GOMAXPROCS=%d", *rxProcs)
	}
	fmt.Fprintf(stdout, "tribes bench: %s, %d CPU, %d s per workload and side, Go sender goroutines %d%s, median of %d runs\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), *seconds, *conc, delivery, *runs)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size\tto\tack\tGo msgs/s\tJava msgs/s\tGo/Java\tGo MB/s\tJava MB/s\tGo p50/p99 µs\tJava p50/p99 µs\tGo CPU µs tx/rx\tGo switches tx/rx\t")
	for _, r := range rows {
		g, j := "error", "-"
		gmb, jmb, glat, jlat, ratio, gcpu, gsw := "-", "-", "-", "-", "-", "-", "-"
		if r.goErr == nil {
			g = fmt.Sprintf("%.0f", r.goRes.MsgsPerSec)
			gmb = fmt.Sprintf("%.1f", r.goRes.MBPerSec)
			glat = fmt.Sprintf("%.0f/%.0f", r.goRes.P50us, r.goRes.P99us)
			gcpu = fmt.Sprintf("%.0f/%.0f", r.goRes.CPUusPerMsg, r.goRes.RxCPUusPerMsg)
			gsw = fmt.Sprintf("%.1f/%.1f", r.goRes.SwitchesPerMsg, r.goRes.RxSwitchesPerMsg)
		}
		if !r.javaSkipped {
			j = "error"
			if r.javaErr == nil {
				j = fmt.Sprintf("%.0f", r.javaRes.MsgsPerSec)
				jmb = fmt.Sprintf("%.1f", r.javaRes.MBPerSec)
				jlat = fmt.Sprintf("%.0f/%.0f", r.javaRes.P50us, r.javaRes.P99us)
				if r.goErr == nil && r.javaRes.MsgsPerSec > 0 {
					ratio = fmt.Sprintf("%.2fx", r.goRes.MsgsPerSec/r.javaRes.MsgsPerSec)
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", sizeLabel(r.size), r.receivers, r.mode, g, j, ratio, gmb, jmb, glat, jlat, gcpu, gsw)
	}
	tw.Flush()
	for _, r := range rows {
		if r.goErr != nil {
			fmt.Fprintf(stdout, "Go %s to %d %s: %v\n", sizeLabel(r.size), r.receivers, r.mode, r.goErr)
		}
		if r.javaErr != nil {
			fmt.Fprintf(stdout, "Java %s to %d %s: %v\n", sizeLabel(r.size), r.receivers, r.mode, r.javaErr)
		}
	}
	printRawTCP(stdout, rows, raw)
	printRawFloors(stdout, rows, floors)
	var goSendRSS, javaSendRSS int64
	for _, r := range rows {
		goSendRSS = max(goSendRSS, r.goRes.MaxRssKb)
		javaSendRSS = max(javaSendRSS, r.javaRes.MaxRssKb)
	}
	var goRxRSS, javaRxRSS int64
	for _, p := range goRx {
		goRxRSS = max(goRxRSS, procHWM(p.cmd.Process.Pid))
	}
	for _, p := range jps {
		javaRxRSS = max(javaRxRSS, procHWM(p.Pid()))
	}
	line := fmt.Sprintf("\npeak memory (VmHWM, the largest receiver): Go receiver %.1f MiB, Go sender %.1f MiB", kib(goRxRSS), kib(goSendRSS))
	if jps != nil {
		line += fmt.Sprintf("; Java receiver %.1f MiB, Java sender %.1f MiB", kib(javaRxRSS), kib(javaSendRSS))
	}
	fmt.Fprintln(stdout, line)
	for _, r := range slices.Concat(rows, floors) {
		if r.goErr != nil {
			return errors.New("some Go workloads failed")
		}
	}
	return nil
}

// medianRows combines the runs of every row (runs[i][j] is row j of run i): each side's
// median by msgs/s (the run in the middle, or the mean of the two middle runs' figures for
// an even number of runs), and its first error. A Java run with failed sends is an error,
// as a Go run's is (goSummary).
func medianRows(runs [][]benchRow) []benchRow {
	rows := slices.Clone(runs[0])
	for j := range rows {
		var gos []sendResult
		var javas []javapeer.BenchResult
		for _, run := range runs {
			r := run[j]
			if r.javaErr == nil && r.javaRes.Failed > 0 {
				r.javaErr = fmt.Errorf("%d of %d sends failed (first: %s)", r.javaRes.Failed, r.javaRes.Count, r.javaRes.FirstError)
			}
			if r.goErr != nil && rows[j].goErr == nil {
				rows[j].goErr = r.goErr
			}
			if r.javaErr != nil && rows[j].javaErr == nil {
				rows[j].javaErr = r.javaErr
			}
			gos, javas = append(gos, r.goRes), append(javas, r.javaRes)
		}
		rows[j].goRes = medianOf(gos, func(r sendResult) float64 { return r.MsgsPerSec }, sendResult.mean)
		rows[j].javaRes = medianOf(javas, func(r javapeer.BenchResult) float64 { return r.MsgsPerSec }, meanJava)
	}
	return rows
}

// medianOf returns the median of xs by key (it sorts xs): the one in the middle, or
// mean(a, b) of the two in the middle of an even number.
func medianOf[T any](xs []T, key func(T) float64, mean func(a, b T) T) T {
	slices.SortStableFunc(xs, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return mean(xs[n/2-1], xs[n/2])
}

// mean is the mean of the figures bench prints of two runs of a row's Go side (the larger
// peak memory).
func (r sendResult) mean(o sendResult) sendResult {
	avg := func(a, b float64) float64 { return (a + b) / 2 }
	r.MsgsPerSec, r.MBPerSec = avg(r.MsgsPerSec, o.MsgsPerSec), avg(r.MBPerSec, o.MBPerSec)
	r.P50us, r.P99us = avg(r.P50us, o.P50us), avg(r.P99us, o.P99us)
	r.CPUusPerMsg, r.SwitchesPerMsg = avg(r.CPUusPerMsg, o.CPUusPerMsg), avg(r.SwitchesPerMsg, o.SwitchesPerMsg)
	r.RxCPUusPerMsg, r.RxSwitchesPerMsg = avg(r.RxCPUusPerMsg, o.RxCPUusPerMsg), avg(r.RxSwitchesPerMsg, o.RxSwitchesPerMsg)
	r.MaxRssKb = max(r.MaxRssKb, o.MaxRssKb)
	return r
}

// meanJava is sendResult.mean of a row's Java side.
func meanJava(r, o javapeer.BenchResult) javapeer.BenchResult {
	avg := func(a, b float64) float64 { return (a + b) / 2 }
	r.MsgsPerSec, r.MBPerSec = avg(r.MsgsPerSec, o.MsgsPerSec), avg(r.MBPerSec, o.MBPerSec)
	r.P50us, r.P99us, r.MaxUs = avg(r.P50us, o.P50us), avg(r.P99us, o.P99us), max(r.MaxUs, o.MaxUs)
	r.MaxRssKb = max(r.MaxRssKb, o.MaxRssKb)
	return r
}

// inRunOrder measures a row's two sides in the order of run (counted from 0): Go first in
// the first, third... runs, Java first in the others, so that neither side always runs
// first (right after the other side's load, or after the pause between rows).
func inRunOrder(run int, goSide, javaSide func()) {
	if run%2 == 1 {
		javaSide()
		goSide()
		return
	}
	goSide()
	javaSide()
}

func parseSizes(flagName, list string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: --%s: %q", errUsage, flagName, f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

func kib(k int64) float64 { return float64(k) / 1024 }

func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// goProc is a tribesdemo node child process.
