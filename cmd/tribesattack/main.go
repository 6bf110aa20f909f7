// Command tribesattack runs the attack suite of docs/security.md: each attack against the
// first node (the target) of a fresh 3-node cluster on loopback (transport/nio, static or
// multicast membership, session/delta holding sessions, the two other nodes sending a
// steady use_ack,sync load), then prints a table: whether the target stayed up, its peak
// resident set during the attack, the rate of load messages the good nodes delivered to
// it during the attack against before it, sessions lost or changed, the bytes the target
// logged, and what the attack itself observed.
//
//	tribesattack               # every attack, about two minutes
//	tribesattack -short        # shorter windows (the go test runs this)
//	tribesattack -run slow     # only the attacks whose name contains "slow"
//	tribesattack -duration 20s # longer attacks
//
// Nodes are this binary started again with GOTRIBES_ATTACK_NODE=1, so that the memory and
// the log of the target are its own. Run it as root: the replay attack captures frames
// with a packet socket on lo, and peak RSS is reset through /proc/PID/clear_refs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func signalContext() context.Context {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx
}

func main() {
	if os.Getenv(nodeEnv) != "" {
		nodeMain()
	}
	os.Exit(run(signalContext(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tribesattack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", false, "1 s of baseline and 2.5 s of attack instead of 2 s and 5 s")
	only := fs.String("run", "", "run only the attacks whose name contains this")
	verbose := fs.Bool("v", false, "print the end of the target's log after each attack")
	duration := fs.Duration("duration", 0, "length of each attack (default 5s, 2.5s with -short)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "tribesattack:", err)
		return 1
	}
	cfg := defaultSuite(exe, *short)
	if *duration > 0 {
		cfg.duration = *duration
	}
	results := runSuite(ctx, cfg, *only, stderr, *verbose)
	printTable(stdout, results)
	for _, r := range results {
		if r.Err != "" {
			return 1
		}
	}
	return 0
}

func defaultSuite(exe string, short bool) suiteConfig {
	cfg := suiteConfig{exe: exe, baseline: 2 * time.Second, duration: 5 * time.Second, sessions: 50, load: 100,
		firstFrame: 500 * time.Millisecond, frame: time.Second}
	if short {
		cfg.baseline, cfg.duration = time.Second, 2500*time.Millisecond
	}
	return cfg
}

// result is one row of the table.
type result struct {
	Attack  string
	Up      bool    // the target process runs and answers after the attack
	Fresh   bool    // a new connection to the target got its ACK after the attack
	PeakRSS uint64  // the target's peak resident set during the attack
	Before  float64 // load messages a second the good nodes delivered to the target before
	During  float64 // … and during the attack
	// PeersBefore and PeersDuring are the same for the messages B and C sent each other:
	// what the attack (or the machine's load) did to the nodes that were not attacked.
	PeersBefore, PeersDuring float64
	Lost                     int    // sessions missing on some node after the attack
	Changed                  int    // sessions whose owner attribute was changed
	LogBytes                 int64  // bytes the target logged during the attack
	Note                     string // what the attack observed
	Breaches                 int64  // what the defence let through, in the attack's unit (0: it held)
	Err                      string // the attack or the cluster failed
	LogTail                  string // the end of the target's log
	Elapsed                  time.Duration
	RecoverIn                time.Duration // after the attack, until the good nodes' messages reached the target again
}

// ratio is during / before, 0 without a baseline.
func ratio(during, before float64) float64 {
	if before == 0 {
		return 0
	}
	return during / before
}

func runSuite(ctx context.Context, cfg suiteConfig, only string, progress io.Writer, verbose bool) []result {
	var results []result
	for _, a := range attacks {
		if only != "" && !strings.Contains(a.name, only) {
			continue
		}
		start := time.Now()
		r := runAttack(ctx, cfg, a)
		r.Elapsed = time.Since(start)
		fmt.Fprintf(progress, "%-18s done in %v\n", a.name, r.Elapsed.Round(100*time.Millisecond))
		if verbose {
			fmt.Fprintf(progress, "target's log, last lines:\n%s\n", r.LogTail)
		}
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	return results
}

func runAttack(ctx context.Context, cfg suiteConfig, a attack) result {
	r := result{Attack: a.name}
	c, err := startCluster(ctx, cfg, a.opts)
	if err != nil {
		r.Err = "cluster: " + err.Error()
		return r
	}
	defer c.stop()
	t0 := time.Now()
	n0, b0 := c.delivered()
	sleep(ctx, cfg.baseline)
	t1 := time.Now()
	n1, b1 := c.delivered()
	r.Before = float64(n1-n0) / t1.Sub(t0).Seconds()
	r.PeersBefore = float64(b1-b0) / t1.Sub(t0).Seconds()

	c.resetPeak()
	log0 := c.nodes[0].logBytes.Load()
	out, err := runTimed(ctx, cfg.duration, c, a)
	r.Note, r.Breaches = out.note, out.breaches
	if err != nil {
		r.Err = err.Error()
	}
	t2 := time.Now()
	n2, b2 := c.delivered()
	r.During = float64(n2-n1) / t2.Sub(t1).Seconds()
	r.PeersDuring = float64(b2-b1) / t2.Sub(t1).Seconds()
	r.PeakRSS = c.peakRSS()
	r.LogBytes = c.nodes[0].logBytes.Load() - log0
	r.LogTail = c.nodes[0].tail.String()

	// After: the target answers, takes a new connection, and the load reaches it again.
	if err := poll(ctx, 10*time.Second, func() (bool, error) { return c.toTarget() > n2, nil }); err == nil {
		r.RecoverIn = time.Since(t2)
	} else {
		r.RecoverIn = -1
	}
	// A new connection gets its ACK: at once, or after the target worked off the attack.
	var tries int
	err = poll(ctx, 10*time.Second, func() (bool, error) {
		tries++
		err := freshAck(c.nodes[0].addr)
		return err == nil, err
	})
	r.Fresh = err == nil
	if err != nil {
		r.Note += "; new connection: " + err.Error()
	} else if tries > 1 {
		r.Note += fmt.Sprintf("; a new connection got its ACK at attempt %d", tries)
	}
	_, err = c.stats(0)
	r.Up = c.alive(0) && err == nil
	want := 3 * cfg.sessions
	for i := range c.nodes {
		st, err := c.stats(i)
		if err != nil {
			continue
		}
		r.Lost = max(r.Lost, want-st.Sessions)
		r.Changed = max(r.Changed, st.SessionsChanged)
	}
	return r
}

// errNoTimeLeft is runTimed's error for an attack it did not start: the suite's context
// ends before the attack's duration would.
var errNoTimeLeft = errors.New("the suite's time ran out before the attack")

// runTimed runs a against c for d, or not at all if ctx ends before d passed: an attack
// cut short by the suite's own deadline (a slow build and slow clusters on a loaded
// machine) showed less than it should, or nothing ("not one connection reached the
// target" when it began with no time left), and that is not the target's doing.
func runTimed(ctx context.Context, d time.Duration, c *cluster, a attack) (outcome, error) {
	if end, ok := ctx.Deadline(); ctx.Err() != nil || ok && time.Until(end) < d {
		return outcome{}, fmt.Errorf("%w (%s needs %v)", errNoTimeLeft, a.name, d)
	}
	actx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return a.run(actx, c)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func printTable(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "attack\tup\tpeak RSS\tmsgs/s before\tduring\tratio\tB<->C ratio\trecovered\tsessions lost/changed\tlog bytes\tobserved")
	for _, r := range results {
		up := "yes"
		if !r.Up || !r.Fresh {
			up = fmt.Sprintf("NO (process %v, new conn acked %v)", r.Up, r.Fresh)
		}
		rec := "in " + r.RecoverIn.Round(10*time.Millisecond).String()
		if r.RecoverIn < 0 {
			rec = "NO"
		}
		note := r.Note
		if r.Err != "" {
			note = "ERROR " + r.Err + "; " + note
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f MiB\t%.0f\t%.0f\t%.2f\t%.2f\t%s\t%d/%d\t%d\t%s\n", r.Attack, up, float64(r.PeakRSS)/(1<<20),
			r.Before, r.During, ratio(r.During, r.Before), ratio(r.PeersDuring, r.PeersBefore), rec, r.Lost, r.Changed, r.LogBytes, note)
	}
	tw.Flush()
}
