package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gotribes/tribes/channel"
)

// rttMagic starts every rtt probe; the 8 bytes after it are the probe's sequence number.
var rttMagic = []byte("RTT\x01")

const rttHeader = 12 // magic + sequence

// rttResult is the outcome of `tribesdemo rtt`: a table, or one JSON line with --json.
type rttResult struct {
	Event    string         `json:"event"` // "rtt"
	Mode     string         `json:"mode"`  // "echo" or "sync-ack"
	Peer     string         `json:"peer"`
	Size     int            `json:"size"`
	Options  string         `json:"options"`
	Sent     int64          `json:"sent"`     // measured probes sent
	Answered int64          `json:"answered"` // probes whose echo (or sync ACK) came back
	Lost     int64          `json:"lost"`     // probes that failed or whose echo did not come back in time
	Seconds  float64        `json:"seconds"`
	MinUs    float64        `json:"minUs"`
	P50us    float64        `json:"p50us"`
	P90us    float64        `json:"p90us"`
	P99us    float64        `json:"p99us"`
	MaxUs    float64        `json:"maxUs"`
	MeanUs   float64        `json:"meanUs"`
	Stopped  string         `json:"stopped"` // "count", "time" or "interrupted"
	Errors   map[string]int `json:"errors,omitempty"`
}

// echoCatcher hands the sequence numbers of echoed probes to the measuring loop.
type echoCatcher struct{ seqs chan uint64 }

func (e echoCatcher) Accept(m *channel.Message) bool {
	return len(m.Data) >= rttHeader && bytes.HasPrefix(m.Data, rttMagic)
}

func (e echoCatcher) MessageReceived(m *channel.Message) error {
	select {
	case e.seqs <- binary.BigEndian.Uint64(m.Data[len(rttMagic):]):
	default: // the loop is not waiting (a late echo): drop it
	}
	return nil
}

func runRTT(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rtt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf nodeFlags
	nf.register(fs, 30)
	count := fs.Int("count", 1000, "number of round trips to measure (the run also ends after --seconds)")
	size := fs.Int("size", 64, fmt.Sprintf("probe size in bytes (at least %d)", rttHeader))
	optStr := fs.String("options", "use_ack", "send options of the probes (and of the echoes, which drop async)")
	mode := fs.String("mode", "auto", "echo: time until the peer's echo returns (peer runs 'tribesdemo node --echo'); "+
		"ack: time of a send with --options plus use_ack,sync (table: sync-ack); auto: echo if the peer echoes the first probe, else ack")
	peerAddr := fs.String("peer", "", "host:port of the member to measure (default: the first member)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for one echo before counting the probe lost")
	warmup := fs.Int("warmup", 10, "unmeasured round trips first (connections, JIT of a Java peer)")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for a member to appear")
	showProgress := fs.Bool("progress", true, "draw a progress bar (only when stdout is a terminal)")
	asJSON := fs.Bool("json", false, "print the summary as one JSON line instead of a table")
	var mf metricsFlag
	mf.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: tribesdemo rtt [flags]

Measures round trips to one member, one probe at a time, and prints min, p50, p90, p99, max
and mean. With a peer running "tribesdemo node --echo" (or the Java peer's echo) a round trip
lasts from the send until the echo is back (--mode echo; the table says "echo"). Otherwise
it is the duration of one send with --options plus use_ack,sync: the probe travels, the
peer's listener processes it and the ACK comes back (--mode ack; Tribes' synchronized ACK;
the table says "sync-ack"). --mode auto, the default, sends the first probe as an echo probe
and waits for its echo at most 2 s (or --timeout if shorter): echo mode if it comes, ack mode
otherwise.

Example:
  tribesdemo node --port 4000 --id 000102030405060708090a0b0c0d0e0f --echo --quiet &
  tribesdemo rtt --port 4100 --static 127.0.0.1:4000:000102030405060708090a0b0c0d0e0f

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
	if *count < 1 || *size < rttHeader || *warmup < 0 || *timeout <= 0 {
		return fmt.Errorf("%w: --count >= 1, --size >= %d, --warmup >= 0, --timeout > 0", errUsage, rttHeader)
	}
	limit, err := nf.checkSend(*size)
	if err != nil {
		return err
	}
	switch *mode {
	case "auto", "echo", "ack":
	default:
		return fmt.Errorf("%w: --mode is auto, echo or ack, not %q", errUsage, *mode)
	}
	catcher := echoCatcher{seqs: make(chan uint64, 16)}
	ch, stopMetrics, err := nf.buildServed(ctx, &mf, stderr)
	if err != nil {
		return err
	}
	defer stopMetrics()
	ch.AddMessageListener(catcher)
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ch.Stop(sctx, channel.SvcAll)
	}()
	var peer channel.Member
	found := waitMembers(ctx, func() int {
		for _, m := range ch.Members() {
			if *peerAddr == "" || m.Addr() == *peerAddr {
				peer = m
				return 1
			}
		}
		return 0
	}, 1, *wait)
	if !found {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if *peerAddr != "" {
			return fmt.Errorf("%w: no member at %s after %v", channel.ErrNoMembers, *peerAddr, *wait)
		}
		return fmt.Errorf("%w: no member after %v (give one with --static, or --mcast-addr)", channel.ErrNoMembers, *wait)
	}
	to := []channel.Member{peer}
	ackOpts := opts | channel.OptUseAck | channel.OptSyncAck
	probe := make([]byte, *size)
	copy(probe, rttMagic)
	for i := rttHeader; i < len(probe); i++ {
		probe[i] = byte(i)
	}
	sendCtx := context.WithoutCancel(ctx) // an interrupt ends the loop, not the probe under way
	var seq uint64
	// once sends one probe and returns its round trip, or an error if it was lost (in echo
	// mode: no echo within wait).
	once := func(echo bool, wait time.Duration) (time.Duration, error) {
		seq++
		binary.BigEndian.PutUint64(probe[len(rttMagic):], seq)
		t0 := time.Now()
		if !echo {
			err := ch.Send(sendCtx, to, probe, ackOpts)
			return time.Since(t0), err
		}
		if err := ch.Send(sendCtx, to, probe, opts); err != nil {
			return 0, err
		}
		deadline := time.NewTimer(wait)
		defer deadline.Stop()
		for {
			select {
			case got := <-catcher.seqs:
				if got == seq {
					return time.Since(t0), nil
				}
				// an earlier probe's late echo: keep waiting for this one
			case <-deadline.C:
				return 0, fmt.Errorf("no echo within %v", wait)
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}

	echo := *mode == "echo"
	if *mode == "auto" {
		// The first probe decides, with a shorter wait: a peer that does not echo should not
		// cost the whole --timeout.
		_, err := once(true, min(*timeout, 2*time.Second))
		echo = err == nil
		if !echo && !*asJSON {
			fmt.Fprintf(stderr, "rtt: %s did not echo the first probe (%v); measuring use_ack,sync sends instead\n", peer.Addr(), err)
		}
	}
	res := rttResult{Event: "rtt", Mode: "sync-ack", Peer: peer.Addr(), Size: *size, Options: ackOpts.String(), Errors: map[string]int{}}
	if echo {
		res.Mode, res.Options = "echo", opts.String()
	}
	// timeUp: --seconds passed since t. The warm-up gets its own --seconds at most, as
	// send's, then the measured probes get --seconds.
	timeUp := func(t time.Time) bool { return limit > 0 && time.Since(t) >= limit }
	warmStart := time.Now()
	for range *warmup {
		if ctx.Err() != nil || timeUp(warmStart) {
			break
		}
		_, _ = once(echo, *timeout)
	}
	if !*asJSON {
		how := "use_ack,sync send until its ACK"
		if echo {
			how = "until the echo is back"
		}
		fmt.Fprintf(stdout, "rtt: %d probes of %d B to %s (%s), options %s\n", *count, *size, peer.Addr(), how, res.Options)
	}
	var answered, lost atomic.Int64
	finish := func(bool) {}
	if isTerminal(stdout) && *showProgress && !*asJSON {
		finish = startProgress(stdout, int64(*count), limit, func() (int64, int64) {
			l := lost.Load()
			return answered.Load() + l, l
		})
	}
	lat := newLatencies(*count, latencyKeep)
	var minRTT time.Duration
	start := time.Now()
	res.Stopped = "count"
	for i := 0; i < *count; i++ {
		if ctx.Err() != nil {
			res.Stopped = "interrupted"
			break
		}
		if timeUp(start) {
			res.Stopped = "time"
			break
		}
		d, err := once(echo, *timeout)
		if err != nil && ctx.Err() != nil {
			res.Stopped = "interrupted" // this probe was cut short, not lost
			break
		}
		res.Sent++
		if err != nil {
			lost.Add(1)
			countFailure(res.Errors, err)
			continue
		}
		answered.Add(1)
		lat.add(d)
		if minRTT == 0 || d < minRTT {
			minRTT = d
		}
	}
	res.Seconds = time.Since(start).Seconds()
	finish(res.Stopped != "interrupted")
	res.Answered, res.Lost = answered.Load(), lost.Load()
	sum := lat.summary()
	res.MinUs, res.P50us, res.P90us, res.P99us = micros(minRTT), micros(sum.P50), micros(sum.P90), micros(sum.P99)
	res.MaxUs, res.MeanUs = micros(sum.Max), micros(sum.Mean)
	if len(res.Errors) == 0 {
		res.Errors = nil
	}
	if *asJSON {
		newLineWriter(stdout).emit(res)
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "mode\tsent\tanswered\tlost\tmin\tp50\tp90\tp99\tmax\tmean\t")
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", res.Mode, res.Sent, res.Answered, res.Lost,
			fmtDur(minRTT), fmtDur(sum.P50), fmtDur(sum.P90), fmtDur(sum.P99), fmtDur(sum.Max), fmtDur(sum.Mean))
		_ = tw.Flush()
		if res.Stopped != "count" {
			fmt.Fprintf(stdout, "%s after %d of %d probes\n", strings.Replace(res.Stopped, "time", "stopped by --seconds", 1), res.Sent, *count)
		}
		printFailures(stdout, res.Errors)
	}
	if res.Lost > 0 {
		return fmt.Errorf("%d of %d probes lost", res.Lost, res.Sent)
	}
	return nil
}
