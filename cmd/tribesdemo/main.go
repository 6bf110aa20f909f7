// Command tribesdemo runs Tribes nodes, sends load and shows a cluster at work.
//
//	tribesdemo cluster                  # 3 nodes in this process on loopback: the README's demo
//	tribesdemo node [flags]             # one node; JSON lines for members and messages
//	tribesdemo send [flags]             # send --count messages of --size bytes, print a summary
//	tribesdemo sessions [flags]         # a web app on the session middleware, to run on several nodes
//	tribesdemo bench [flags]            # the benchmark matrix against Java Tribes, with ratios
//	tribesdemo load [flags]             # Tribes' LoadTest: progress bar, then msgs/s, MB/s, failures, latency percentiles
//	tribesdemo rtt [flags]              # round-trip percentiles to a "node --echo" peer (or of use_ack,sync sends)
//
// Run "tribesdemo <command> -h" for each command's flags. A usage error (an unknown flag,
// a bad flag value, an unexpected argument) prints its reason and where the command's usage
// is on stderr and exits with 2; other failures exit with 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

var commands = []struct {
	name, summary string // no summary: a helper process of another command, left out of the usage
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}{
	{"cluster", "start 3 nodes on loopback, show members, messages with each ack mode, a node stopping; exits by itself", runCluster},
	{"node", "run one node, print a line per member added/gone and per message received (text on a terminal, JSON lines otherwise or with --json)", runNode},
	{"send", "send --count messages of --size bytes to the members and print a summary", runSend},
	{"sessions", "web app with a replicated per-session counter (HTML or ?format=json)", runSessions},
	{"bench", "measure Go→Go and Java→Java throughput and latency in one run, print the ratios", runBench},
	{"load", "send --count messages of --size bytes with a progress bar; table of msgs/s, MB/s, failures, latency percentiles", runLoad},
	{"rtt", "measure round trips to one member (its \"node --echo\", else use_ack,sync sends): min, p50, p90, p99, max", runRTT},
	{"pingpong", "", runPingPong}, // bench's raw floor

}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tribesdemo <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		if c.summary == "" {
			continue
		}
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'tribesdemo <command> -h' for a command's flags.")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal ends ctx and restores the default handling, so a second one ends the
	// process even while a command finishes what is under way.
	context.AfterFunc(ctx, stop)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				fmt.Fprintf(stderr, "tribesdemo %s: %v\nRun 'tribesdemo %s -h' for its usage.\n", c.name, err, c.name)
				return 2
			default:
				fmt.Fprintf(stderr, "tribesdemo %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "tribesdemo: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// errUsage marks a usage error: a bad flag, flag value or argument. run prints it with a
// pointer to the command's usage and exits with 2.
var errUsage = errors.New("invalid usage")

// parseFlags parses a command's flags. -h prints the command's usage (flag.ErrHelp); a bad
// flag, a bad flag value and any argument left over are usage errors, which run reports in
// one line (the flag package's own report and usage dump are left out).
func parseFlags(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err != nil:
		return fmt.Errorf("%w: %v", errUsage, err)
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return nil
}
