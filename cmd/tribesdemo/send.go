package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotribes/tribes/channel"
)

// sendResult is the summary line of `tribesdemo send`.
type sendResult struct {
	Event      string  `json:"event"`
	Members    int     `json:"members"`
	Sent       int64   `json:"sent"`
	Failed     int64   `json:"failed"`
	Size       int     `json:"size"`
	Options    string  `json:"options"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgsPerSec"`
	MBPerSec   float64 `json:"mbPerSec"`
	P50us      float64 `json:"p50us"`
	P99us      float64 `json:"p99us"`
	MaxRssKb   int64   `json:"maxRssKb"`
	// Allocations and collector cycles of the sending process during the measured phase.
	Mallocs  uint64 `json:"mallocs"`
	GCCycles uint32 `json:"gcCycles"`
	// CPU time (µs) and context switches of the sending process's threads per message
	// sent during the measured phase (from /proc; 0 where it is missing).
	CPUusPerMsg    float64 `json:"cpuUsPerMsg"`
	SwitchesPerMsg float64 `json:"switchesPerMsg"`
	// The same of the receiving processes, per message and receiver: filled in by bench.
	RxCPUusPerMsg    float64 `json:"-"`
	RxSwitchesPerMsg float64 `json:"-"`
	// Messages the members sent back (a "node --echo" peer's echoes), waited for after the
	// measured phase; omitted when none came.
	Echoes int64 `json:"echoes,omitempty"`
	// The first 5 distinct failures, each "member: cause".
	Errors []string `json:"errors,omitempty"`
}

// membersHint says how send is given its members.
const membersHint = "--static host:port:uniqueIdHex (comma separated), --mcast-addr with --mcast-bind (multicast), or --cloud"

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf nodeFlags
	nf.register(fs, 60)
	count := fs.Int("count", 1000, "number of messages to send")
	size := fs.Int("size", 1024, "message size in bytes")
	optStr := fs.String("options", "use_ack", "send options: byte, use_ack, sync, async, udp, multicast (comma separated) or a number")
	conc := fs.Int("concurrency", 1, "goroutines sending at once")
	warmup := fs.Int("warmup", 0, "unmeasured messages sent first (they do reach the members)")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for a member (multicast discovery takes a few heartbeats)")
	profiles := registerProfileFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tribesdemo send [flags]\n\nSends --count messages of --size bytes to every known member and prints a JSON summary.\n"+
			"Messages the members send back (a \"node --echo\" peer's echoes) are taken, waited for and counted (\"echoes\").")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts, err := parseOptionsFlag("options", *optStr)
	if err != nil {
		return err
	}
	switch {
	case *count < 0:
		return fmt.Errorf("%w: --count %d: want >= 0", errUsage, *count)
	case *size < 0:
		return fmt.Errorf("%w: --size %d: want >= 0", errUsage, *size)
	case *conc < 1:
		return fmt.Errorf("%w: --concurrency %d: want >= 1", errUsage, *conc)
	}
	limit, err := nf.checkSend(*size)
	if err != nil {
		return err
	}
	if nf.static == "" && nf.mcastAddr == "" && nf.cloud == "" {
		return fmt.Errorf("%w: %w: give them with %s", errUsage, channel.ErrNoMembers, membersHint)
	}
	stopProfile, err := profiles.start()
	if err != nil {
		return err
	}
	defer stopProfile()
	ch, err := nf.build(stderr)
	if err != nil {
		return err
	}
	echoes := addEchoSink(ch)
	// --seconds bounds the sending loop; sends already under way finish (each is bounded by
	// the ack timeout), so a timed run does not count its last send as a failure.
	var stopAt time.Time
	if limit > 0 {
		stopAt = time.Now().Add(limit)
		var cancel context.CancelFunc
		// The warm-up gets its own --seconds at most, then the measured phase gets --seconds.
		// (Time.Add saturates where a sum of durations would overflow.)
		ctx, cancel = context.WithDeadline(ctx, stopAt.Add(limit).Add(nf.ackTimeout).Add(10*time.Second))
		defer cancel()
	}
	timeUp := func() bool { return !stopAt.IsZero() && time.Now().After(stopAt) }
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		return err
	}
	defer func() {
		stopCtx, c2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer c2()
		_ = ch.Stop(stopCtx, channel.SvcAll)
	}()
	if !waitMembers(ctx, func() int { return len(ch.Members()) }, 1, *wait) && ctx.Err() != nil {
		return ctx.Err()
	}
	members := ch.Members()
	res := sendResult{Event: "summary", Members: len(members), Size: *size, Options: opts.String()}
	if len(members) == 0 {
		newLineWriter(stdout).emit(res)
		return fmt.Errorf("%w after waiting %v (--wait): check that the members run and are given with %s",
			channel.ErrNoMembers, *wait, membersHint)
	}
	payload := make([]byte, *size)
	for i := range payload {
		payload[i] = byte(i*7 + 1)
	}
	var warmed int64
	for range *warmup {
		if ctx.Err() != nil || timeUp() {
			break
		}
		if ch.Send(ctx, members, payload, opts) == nil {
			warmed++
		}
	}
	if !stopAt.IsZero() {
		stopAt = time.Now().Add(limit)
	}
	var next, sent, failed atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, min(*count, 1<<20))
	errSeen := map[string]bool{}
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	work0 := readWork(os.Getpid())
	start := time.Now()
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for next.Add(1) <= int64(*count) && ctx.Err() == nil && !timeUp() {
				t0 := time.Now()
				err := ch.Send(ctx, members, payload, opts)
				d := time.Since(t0)
				mu.Lock()
				if len(lat) < cap(lat) {
					lat = append(lat, d)
				}
				if err != nil {
					failed.Add(1)
					// By member and cause, as load's table: the error's text names the
					// message, so that one cause repeated filled the list.
					for _, k := range failureKeys(err) {
						if len(errSeen) < 5 && !errSeen[k] {
							errSeen[k] = true
							res.Errors = append(res.Errors, k)
						}
					}
				} else {
					sent.Add(1)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	res.Sent, res.Failed = sent.Load(), failed.Load()
	res.summarize(lat, el, work0, &ms0)
	// A member that echoes (node --echo) is still sending the last echoes back: wait for
	// them, so that its sends do not fail on this node's stop.
	res.Echoes = echoes.wait(ctx, (warmed+res.Sent)*int64(len(members)), nf.ackTimeout)
	newLineWriter(stdout).emit(res)
	if res.Failed > 0 {
		return errors.New("some messages failed")
	}
	return nil
}

// summarize fills in the figures of a measured phase that began with work0 and ms0 and took
// el, from r.Sent (to r.Members each, r.Size bytes) and the latencies lat, which it sorts.
func (r *sendResult) summarize(lat []time.Duration, el time.Duration, work0 procWork, ms0 *runtime.MemStats) {
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	r.Mallocs, r.GCCycles = ms1.Mallocs-ms0.Mallocs, ms1.NumGC-ms0.NumGC
	r.CPUusPerMsg, r.SwitchesPerMsg = readWork(os.Getpid()).since(work0).perMsg(r.Sent)
	r.Seconds = el.Seconds()
	if el > 0 {
		r.MsgsPerSec = float64(r.Sent) / r.Seconds
		r.MBPerSec = float64(r.Sent) * float64(r.Size) * float64(r.Members) / r.Seconds / 1e6
	}
	slices.Sort(lat)
	// Nearest rank, as the Java peer's BenchSend.pct, so that bench's Go and Java
	// p50/p99 columns compare.
	r.P50us = float64(percentile(lat, 50).Microseconds())
	r.P99us = float64(percentile(lat, 99).Microseconds())
	r.MaxRssKb = maxRSSKB()
}
