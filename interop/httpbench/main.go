// Command httpbench compares the HTTP throughput of session/delta with real Tomcat 10.1
// on one workload, the counter page: read the session attribute "counter", add one, set
// it, print it; one session per client connection, its cookie followed. In one run it
// measures, alternating the sides:
//
//   - one node without replication: Tomcat with StandardManager (no cluster), the Go
//     middleware with no members, a bare net/http handler keeping a map (the ceiling),
//     and alexedwards/scs with its memory store;
//   - 3 nodes, asynchronous replication: Tomcat DeltaManager (channelSendOptions 8) and
//     Go (delta.ReplicateAsync);
//   - 3 nodes, acked replication: Tomcat (channelSendOptions 6: use_ack + sync_ack) and
//     Go (delta.ReplicateAcked);
//   - a mixed cluster, 1 Tomcat and 2 Go nodes (delta.JavaCodec), acked, load on the
//     Tomcat node and on a Go node, against the all-Tomcat figure;
//   - scs-acked: 3 Go nodes serving the counter with alexedwards/scs over
//     session/scsstore, acked replication, against scs with its memory store (no Tomcat
//     side).
//
// Every server is a process of its own (Tomcat via internal/tomcat, the Go servers and
// the load client this binary started again in another role); the load goes to node 1 of
// a cluster, and after each run every session's counter is read back on node 2. It prints
// the median req/s of each side over --runs, the ratios of issue 15's targets and each
// server's resident memory. docs/benchmarks.md has the figures.
//
//	go run ./interop/httpbench --runs 3
//
// It needs Debian's tomcat10 and a JDK (scripts/install-test-deps.sh).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if role := os.Getenv(envRole); role != "" {
		if err := runRole(role, os.Getenv(envConfig), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "httpbench:", err)
			os.Exit(1)
		}
		return
	}
	if err := runMain(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "httpbench:", err)
		os.Exit(1)
	}
}

// runRole runs a child process's role.
func runRole(role, config string, stdout io.Writer) error {
	switch role {
	case "server":
		var cfg serverConfig
		if err := json.Unmarshal([]byte(config), &cfg); err != nil {
			return err
		}
		return serve(cfg)
	case "load":
		var cfg loadConfig
		if err := json.Unmarshal([]byte(config), &cfg); err != nil {
			return err
		}
		res, err := runLoad(cfg)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(res)
	}
	return fmt.Errorf("unknown role %q", role)
}

func runMain(args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("httpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 3, "measurements of every side; the report gives their median")
	conns := fs.Int("conns", 16, "client connections, one session each")
	prewarm := fs.Duration("prewarm", 30*time.Second, "load on every side once before the runs, not counted (the JVMs compile the hot code)")
	warmup := fs.Duration("warmup", time.Second, "load before each measurement, not counted")
	measure := fs.Duration("duration", 3*time.Second, "counted load per measurement")
	configs := fs.String("configs", strings.Join(allConfigs, ","), "configurations to run")
	jvm := fs.String("jvm-opts", "-Xmx512m", "Tomcat's JVM options (the JVM's defaults otherwise: G1, both JIT compilers)")
	noTomcat := fs.Bool("go-only", false, "leave Tomcat out: Go sides only (not with the mixed configuration)")
	batchWait := fs.Duration("acked-batch-wait", 0, "the acked Go cluster nodes' delta.Config.AckedBatchWait (0: its default, 2ms; negative: no wait)")
	onLoop := fs.Bool("deliver-on-loop", false, "Go cluster nodes deliver received messages on their transport's event loops, not its workers (nio.Config.DeliverOnEventLoop)")
	engine := fs.String("engine", "", "receiver engine of the Go cluster nodes (nio.Config.Engine: gnet or goroutine; empty: the default)")
	profile := fs.String("cpuprofile", "", "directory where each Go server writes its CPU profile (NAME.cpu.pprof, the process's whole life)")
	traceDir := fs.String("trace", "", "directory where each Go server writes a runtime trace of one second (NAME.trace, for go tool trace), from --trace-at after its start")
	traceAt := fs.Duration("trace-at", 10*time.Second, "when the Go servers' runtime traces start, from their start (--trace)")
	godebug := fs.String("server-godebug", "", "GODEBUG of the Go servers, not of the load client")
	dir := fs.String("dir", "", "directory for Tomcat's CATALINA_BASEs and the logs (default: a temporary one, removed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs < 1 || *conns < 1 || *measure <= 0 || *warmup < 0 {
		return fmt.Errorf("--runs and --conns must be at least 1 and --duration positive")
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "httpbench-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dir)
	}
	for _, d := range []string{*dir, *profile, *traceDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	tb := &mainTB{}
	defer tb.cleanup()
	// Tomcat runs detached from this process: stop it on Ctrl-C too.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			tb.cleanup()
			os.Exit(1)
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = f
		}
	}()
	opts := options{Configs: strings.Split(*configs, ","), Runs: *runs, Conns: *conns, Warmup: *warmup, Prewarm: *prewarm,
		Measure: *measure, Dir: *dir, JVMOptions: *jvm, NoTomcat: *noTomcat, DeliverOnLoop: *onLoop, Engine: *engine, AckedBatchWait: *batchWait, CPUProfile: *profile,
		Trace: *traceDir, TraceAt: *traceAt, ServerGODEBUG: *godebug, Log: stderr}
	ms := run(tb, opts)
	report(stdout, ms)
	return nil
}

// fatal is mainTB's Fatalf, recovered in runMain.
type fatal string

func (f fatal) Error() string { return string(f) }

// mainTB is the testutil.TB of the command: Fatalf and Skipf end the run, cleanups run
// when it ends.
type mainTB struct {
	mu       sync.Mutex
	cleanups []func()
}

func (*mainTB) Helper()                           {}
func (*mainTB) Failed() bool                      { return false }
func (*mainTB) Logf(format string, args ...any)   { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (*mainTB) Fatalf(format string, args ...any) { panic(fatal(fmt.Sprintf(format, args...))) }
func (*mainTB) Skipf(format string, args ...any)  { panic(fatal(fmt.Sprintf(format, args...))) }

func (m *mainTB) Cleanup(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleanups = append(m.cleanups, f)
}

// cleanup runs the cleanups, last first, once.
func (m *mainTB) cleanup() {
	m.mu.Lock()
	fs := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
