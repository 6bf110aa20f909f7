package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gotribes/tribes/channel"
)

// loadResult is the outcome of `tribesdemo load`: a table, or one JSON line with --json.
type loadResult struct {
	Event      string         `json:"event"` // "load"
	Members    []string       `json:"members"`
	Count      int            `json:"count"` // messages asked for
	Sent       int64          `json:"sent"`  // sends that succeeded
	Failed     int64          `json:"failed"`
	Size       int            `json:"size"`
	Options    string         `json:"options"`
	Threads    int            `json:"threads"`
	Seconds    float64        `json:"seconds"`
	MsgsPerSec float64        `json:"msgsPerSec"` // successful sends per second
	MBPerSec   float64        `json:"mbPerSec"`   // payload bytes × members per second, 10^6
	P50us      float64        `json:"p50us"`      // latency of one successful send (until it returned)
	P90us      float64        `json:"p90us"`
	P99us      float64        `json:"p99us"`
	MaxUs      float64        `json:"maxUs"`
	Stopped    string         `json:"stopped"`          // "count", "time" or "interrupted"
	Errors     map[string]int `json:"errors,omitempty"` // failures by member and cause
	// Messages the members sent back (a "node --echo" peer's echoes), waited for after the
	// run; omitted when none came.
	Echoes int64 `json:"echoes,omitempty"`
}

// latencyKeep bounds the latencies kept for percentiles (8 MiB of durations).
const latencyKeep = 1 << 20

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf nodeFlags
	nf.register(fs, 60)
	count := fs.Int("count", 10000, "number of messages to send (the run also ends after --seconds)")
	size := fs.Int("size", 1024, "message size in bytes")
	optStr := fs.String("options", "use_ack", "send options: byte, use_ack, sync, async, udp, multicast (comma separated) or a number")
	threads := fs.Int("threads", 1, "goroutines sending at once (Tribes LoadTest -threads)")
	pause := fs.Duration("pause", 0, "pause of each thread between two messages (Tribes LoadTest -pause)")
	minMembers := fs.Int("members", 1, "wait for at least this many members before sending")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for --members (multicast discovery takes a few heartbeats)")
	showProgress := fs.Bool("progress", true, "draw a progress bar while sending (only when stdout is a terminal)")
	asJSON := fs.Bool("json", false, "print the summary as one JSON line instead of a table")
	var mf metricsFlag
	mf.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: tribesdemo load [flags]

Tribes' LoadTest: sends --count messages of --size bytes with --options to every member
known when it starts (run "tribesdemo node --quiet" or Java nodes as receivers), from
--threads goroutines, until the count is sent or --seconds pass. Shows a progress bar on a
terminal and ends with a table: messages sent and failed, msgs/s, MB/s (payload x members)
and the latency of one successful send (p50, p90, p99, max: until Send returned, that is
written, ACKed or processed as --options say). Exits 1 if any send failed. Messages the
members send back (a "node --echo" peer's echoes) are taken, waited for and counted.

Example:
  tribesdemo node --port 4000 --id 000102030405060708090a0b0c0d0e0f --quiet &
  tribesdemo load --port 4100 --static 127.0.0.1:4000:000102030405060708090a0b0c0d0e0f \
      --count 100000 --size 1024 --options use_ack,sync

`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts, err := parseOptionsFlag("options", *optStr)
	if err != nil {
		return err
	}
	if *count < 1 || *size < 0 || *threads < 1 || *threads > 1024 || *pause < 0 || *minMembers < 1 {
		return fmt.Errorf("%w: --count >= 1, --size >= 0, --threads 1..1024, --pause >= 0, --members >= 1", errUsage)
	}
	limit, err := nf.checkSend(*size)
	if err != nil {
		return err
	}
	ch, stopMetrics, err := nf.buildServed(ctx, &mf, stderr)
	if err != nil {
		return err
	}
	defer stopMetrics()
	echoes := addEchoSink(ch)
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ch.Stop(sctx, channel.SvcAll)
	}()
	if !waitMembers(ctx, func() int { return len(ch.Members()) }, *minMembers, *wait) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %d member(s) after waiting %v for %d (give them with --static, or --mcast-addr)",
			channel.ErrNoMembers, len(ch.Members()), *wait, *minMembers)
	}
	members := ch.Members()
	res := loadResult{Event: "load", Count: *count, Size: *size, Options: opts.String(), Threads: *threads}
	for _, m := range members {
		res.Members = append(res.Members, m.Addr())
	}
	if !*asJSON {
		lim := ""
		if limit > 0 {
			lim = fmt.Sprintf(", at most %v", limit)
		}
		to := strings.Join(res.Members, ", ")
		if len(res.Members) > 4 {
			to = fmt.Sprintf("%s and %d more", strings.Join(res.Members[:3], ", "), len(res.Members)-3)
		}
		fmt.Fprintf(stdout, "load: %d x %d B to %s; %s; %d thread(s)%s\n", *count, *size, to, opts, *threads, lim)
	}

	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = byte(i*7 + 1)
	}
	var (
		next, sent, failed atomic.Int64
		errMu              sync.Mutex
		lat                = newLatencies(*count, latencyKeep)
		stop               = make(chan struct{})
		stopOnce           sync.Once
		reason             atomic.Value
	)
	reason.Store("count")
	halt := func(why string) {
		stopOnce.Do(func() { reason.Store(why); close(stop) })
	}
	res.Errors = map[string]int{}
	// Sends run on a context that an interrupt does not cancel: the loop stops taking new
	// messages, and the ones under way finish within the ack timeout.
	sendCtx := context.WithoutCancel(ctx)
	start := time.Now()
	var timer *time.Timer
	if limit > 0 {
		timer = time.AfterFunc(limit, func() { halt("time") })
	}
	go func() {
		select {
		case <-ctx.Done():
			halt("interrupted")
		case <-stop:
		}
	}()
	finish := func(bool) {}
	if isTerminal(stdout) && *showProgress && !*asJSON {
		finish = startProgress(stdout, int64(*count), limit, func() (int64, int64) {
			f := failed.Load()
			return sent.Load() + f, f
		})
	}
	var wg sync.WaitGroup
	for range *threads {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if next.Add(1) > int64(*count) {
					return
				}
				t0 := time.Now()
				err := ch.Send(sendCtx, members, payload, opts)
				d := time.Since(t0)
				if err != nil {
					failed.Add(1)
					errMu.Lock()
					countFailure(res.Errors, err)
					errMu.Unlock()
				} else {
					sent.Add(1)
					lat.add(d) // percentiles of successful sends only: failures can be instant
				}
				if *pause > 0 {
					select {
					case <-stop:
						return
					case <-time.After(*pause):
					}
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if timer != nil {
		timer.Stop()
	}
	halt("count") // a no-op if something else stopped the run first
	finish(reason.Load().(string) != "interrupted")

	res.Sent, res.Failed, res.Seconds = sent.Load(), failed.Load(), el.Seconds()
	res.Stopped = reason.Load().(string)
	if s := el.Seconds(); s > 0 {
		res.MsgsPerSec = float64(res.Sent) / s
		res.MBPerSec = float64(res.Sent) * float64(*size) * float64(len(members)) / s / 1e6
	}
	sum := lat.summary()
	res.P50us, res.P90us, res.P99us, res.MaxUs = micros(sum.P50), micros(sum.P90), micros(sum.P99), micros(sum.Max)
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	// A member that echoes (node --echo) is still sending the last echoes back.
	res.Echoes = echoes.wait(ctx, res.Sent*int64(len(members)), nf.ackTimeout)
	if *asJSON {
		newLineWriter(stdout).emit(res)
	} else {
		printLoadTable(stdout, res, sum)
	}
	if res.Failed > 0 {
		return fmt.Errorf("%d of %d sends failed", res.Failed, res.Failed+res.Sent)
	}
	return nil
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// maxErrorKinds bounds the distinct failure descriptions kept.
const maxErrorKinds = 20

// countFailure adds err to the failures by member and cause (failureKeys).
func countFailure(byCause map[string]int, err error) {
	for _, k := range failureKeys(err) {
		if _, ok := byCause[k]; ok || len(byCause) < maxErrorKinds {
			byCause[k]++
		} else {
			byCause["other"]++
		}
	}
}

// failureKeys describes a failed send as "member: cause" for each member it failed for,
// without the message's id, so that the same cause on the same member reads the same.
func failureKeys(err error) []string {
	faulty := channel.FaultyMembers(err)
	if len(faulty) == 0 {
		return []string{err.Error()}
	}
	keys := make([]string, 0, len(faulty))
	for _, f := range faulty {
		keys = append(keys, f.Member.Addr()+": "+f.Err.Error())
	}
	return keys
}

func printLoadTable(w io.Writer, r loadResult, s summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sent\tfailed\ttime\tmsgs/s\tMB/s\tp50\tp90\tp99\tmax\t")
	fmt.Fprintf(tw, "%d\t%d\t%.2f s\t%.0f\t%.2f\t%s\t%s\t%s\t%s\t\n", r.Sent, r.Failed, r.Seconds, r.MsgsPerSec, r.MBPerSec,
		fmtDur(s.P50), fmtDur(s.P90), fmtDur(s.P99), fmtDur(s.Max))
	_ = tw.Flush()
	switch r.Stopped {
	case "time":
		fmt.Fprintf(w, "stopped by --seconds after %d of %d messages\n", r.Sent+r.Failed, r.Count)
	case "interrupted":
		fmt.Fprintf(w, "interrupted after %d of %d messages\n", r.Sent+r.Failed, r.Count)
	}
	if r.Echoes > 0 {
		fmt.Fprintf(w, "%d echoes received (a member echoes: node --echo)\n", r.Echoes)
	}
	printFailures(w, r.Errors)
}

// printFailures lists failure causes, most frequent first.
func printFailures(w io.Writer, byCause map[string]int) {
	if len(byCause) == 0 {
		return
	}
	fmt.Fprintln(w, "failures by member and cause:")
	keys := slices.Collect(maps.Keys(byCause))
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(byCause[b], byCause[a]), cmp.Compare(a, b))
	})
	for _, k := range keys {
		fmt.Fprintf(w, "%8d  %s\n", byCause[k], k)
	}
}
