package delta_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/helperproc"
	"github.com/gotribes/tribes/internal/procfs"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/wire"
)

// The state transfer benchmark runs the donor and the joiner as two processes (this test
// binary, re-executed as TestDeltaHelperProcess), on loopback TCP (transport/nio, static
// membership), so that each one's memory is its own: the peak resident set (VmHWM of
// /proc/PID/status, read by the benchmark) and the Go heap in use sampled every 2 ms by
// the process itself (runtime/metrics, no stop of the world).

const helperEnv = "GOTRIBES_DELTA_HELPER"

// profileEnv, when set, is a path prefix: each helper writes its CPU profile to
// <prefix><role>.cpu.pprof (the helpers are separate processes, beyond -cpuprofile) and
// its heap profile to <prefix><role>.mem.pprof (the joiner once ready, after a GC; the
// donor at each report, after the joiner left).
const profileEnv = "GOTRIBES_DELTA_PROFILE"

// transferGCEnv, when set, is the joiner's Config.TransferGCPercent (-1: GOGC stays 100
// during the transfer, as before the setting existed).
const transferGCEnv = "GOTRIBES_DELTA_TRANSFER_GC"

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// writeHeapProfile writes the heap profile (what is kept after the last GC, and every
// allocation since the process started) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// helperReport is the JSON line a helper prints; which fields are set depends on event.
type helperReport struct {
	Event       string `json:"event"`
	Member      string `json:"member,omitempty"`      // donor (ready) and joiner (member): host:port:id
	Sessions    int    `json:"sessions,omitempty"`    // sessions held
	TransferNs  int64  `json:"transferNs,omitempty"`  // joiner: Start -> ready
	HeapBefore  uint64 `json:"heapBefore,omitempty"`  // heap in use when the measurement began
	HeapPeak    uint64 `json:"heapPeak,omitempty"`    // highest heap in use sampled since
	HeapRetain  uint64 `json:"heapRetain,omitempty"`  // joiner: heap allocated after a GC, once ready
	Served      uint64 `json:"served,omitempty"`      // donor: sessions sent to joiners
	Transferred uint64 `json:"transferred,omitempty"` // joiner: sessions received
	// The runtime's work since the measurement began (gcWork).
	GCCPUMs  float64 `json:"gcCPUMs,omitempty"`  // CPU time of the collector
	GCCycles uint64  `json:"gcCycles,omitempty"` // collections completed
	Allocs   uint64  `json:"allocs,omitempty"`   // heap objects allocated
	// CPU is the process's CPU time (user and system, ns) at each sample of the heap
	// sampler since its reset, as [wall clock in Unix ns, CPU ns] pairs: the benchmark
	// compares the two processes' timelines to see whether they ran at the same time.
	CPU [][2]int64 `json:"cpu,omitempty"`
	// StartNs is the joiner's Manager.Start, wall clock in Unix ns.
	StartNs int64  `json:"startNs,omitempty"`
	Error   string `json:"error,omitempty"`
}

// heapSampler tracks the highest heap in use, sampled every 2 ms, since the last reset.
type heapSampler struct {
	mu     sync.Mutex
	before uint64
	peak   uint64
	cpu    [][2]int64 // [Unix ns, process CPU ns] at each sample
	stop   chan struct{}
	done   chan struct{}
}

// heapInuseMetrics add up to runtime.MemStats.HeapInuse (the heap's spans in use: its
// objects and the free room in those spans). runtime/metrics reads them without stopping
// the world, which runtime.ReadMemStats does: every 2 ms, that cost the joiner about
// 0.2 s of CPU per million sessions.
var heapInuseMetrics = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}

// heapInuse returns the heap in use, reading into s (len(heapInuseMetrics), names set by
// newHeapSamples).
func heapInuse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

func newHeapSamples() []metrics.Sample {
	s := make([]metrics.Sample, len(heapInuseMetrics))
	for i, name := range heapInuseMetrics {
		s[i].Name = name
	}
	return s
}

func newHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	h.reset()
	go func() {
		defer close(h.done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		s := newHeapSamples()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
			v := heapInuse(s)
			c := cpuSample()
			h.mu.Lock()
			h.peak = max(h.peak, v)
			h.cpu = append(h.cpu, c)
			h.mu.Unlock()
		}
	}()
	return h
}

func (h *heapSampler) reset() {
	v := heapInuse(newHeapSamples())
	h.mu.Lock()
	h.before, h.peak = v, v
	h.cpu = append(h.cpu[:0], cpuSample())
	h.mu.Unlock()
}

// cpuSample returns the wall clock and this process's CPU time (processCPU), in ns.
func cpuSample() [2]int64 {
	return [2]int64{time.Now().UnixNano(), int64(processCPU(helperTB{}))}
}

// cpuTimeline returns the CPU samples since the last reset, the current one last.
func (h *heapSampler) cpuTimeline() [][2]int64 {
	c := cpuSample()
	h.mu.Lock()
	defer h.mu.Unlock()
	return append(h.cpu[:len(h.cpu):len(h.cpu)], c)
}

func (h *heapSampler) read() (before, peak uint64) {
	v := heapInuse(newHeapSamples())
	h.mu.Lock()
	defer h.mu.Unlock()
	h.peak = max(h.peak, v)
	return h.before, h.peak
}

// gcWork is a snapshot of the runtime's cumulative GC CPU time, GC cycles and heap
// allocations.
type gcWork struct {
	cpuMs          float64
	cycles, allocs uint64
}

func readGCWork() gcWork {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	return gcWork{cpuMs: s[0].Value.Float64() * 1000, cycles: s[1].Value.Uint64(), allocs: s[2].Value.Uint64()}
}

// since fills r's runtime fields with the work done since w.
func (w gcWork) since(r *helperReport) {
	now := readGCWork()
	r.GCCPUMs, r.GCCycles, r.Allocs = now.cpuMs-w.cpuMs, now.cycles-w.cycles, now.allocs-w.allocs
}

func (h *heapSampler) close() {
	close(h.stop)
	<-h.done
}

// TestDeltaHelperProcess is not a test: it is the donor or the joiner of
// BenchmarkStateTransferProcesses when that runs this binary with GOTRIBES_DELTA_HELPER
// set. It prints JSON lines on stdout and exits when its stdin closes.
func TestDeltaHelperProcess(t *testing.T) {
	role := os.Getenv(helperEnv)
	if role == "" {
		t.Skip("helper process of BenchmarkStateTransferProcesses")
	}
	if err := runHelper(role); err != nil {
		_ = helperproc.Report(helperReport{Event: "error", Error: err.Error()})
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(role string) error {
	ctx := context.Background()
	// The CPU profile (profileEnv) covers the transfers: the joiner's from its start
	// command to ready, the donor's from its first reset on (not the building of its
	// sessions).
	var stopProfile func()
	defer func() {
		if stopProfile != nil {
			stopProfile()
		}
	}()
	profile := func() (err error) {
		if prefix := os.Getenv(profileEnv); prefix != "" && stopProfile == nil {
			stopProfile, err = startCPUProfile(prefix + role + ".cpu.pprof")
		}
		return err
	}
	ch, ms := startTCPChannel(helperTB{})
	defer ch.Stop(ctx, channel.SvcAll)
	cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch})
	if err != nil {
		return err
	}
	defer cl.Close(ctx)
	stdin := helperproc.Commands()
	switch role {
	case "donor":
		n, _ := strconv.Atoi(os.Getenv("GOTRIBES_DELTA_SESSIONS"))
		size, _ := strconv.Atoi(os.Getenv("GOTRIBES_DELTA_SIZE"))
		m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: "d", ExpireInterval: -1, Logger: helperLog,
			MemberWait: -1}) // the first node: no transfer of its own, so it never asks the joiner
		if err != nil {
			return err
		}
		if err := m.Start(ctx); err != nil {
			return err
		}
		if err := m.WaitReady(ctx); err != nil {
			return err
		}
		for i := range n {
			s, err := m.Create(ctx)
			if err != nil {
				return err
			}
			v := bytes.Repeat([]byte{byte(i)}, size)
			v[0], v[1], v[2] = byte(i>>16), byte(i>>8), byte(i)
			if err := s.Set("blob", v); err != nil {
				return err
			}
			_ = m.Replicate(ctx, s) // no members yet: clears the pending delta
		}
		runtime.GC()
		h := newHeapSampler()
		defer h.close()
		work := readGCWork()
		_ = helperproc.Report(helperReport{Event: "ready", Member: wire.FormatMemberText(ch.LocalMember()), Sessions: m.Len()})
		for stdin.Scan() {
			cmd, arg, _ := strings.Cut(stdin.Text(), " ")
			switch cmd {
			case "add", "remove": // the joiner: a donor serves members only
				j, err := wire.ParseMemberText(arg)
				if err != nil {
					return err
				}
				if cmd == "add" {
					if err := ms.Add(context.Background(), j); err != nil {
						return err
					}
				} else {
					if err := ms.Remove(context.Background(), j.Key()); err != nil {
						return err
					}
				}
				_ = helperproc.Report(helperReport{Event: cmd})
			case "reset":
				if err := profile(); err != nil {
					return err
				}
				runtime.GC()
				h.reset()
				work = readGCWork()
				_ = helperproc.Report(helperReport{Event: "reset"})
			case "report":
				if prefix := os.Getenv(profileEnv); prefix != "" {
					if err := writeHeapProfile(prefix + role + ".mem.pprof"); err != nil {
						return err
					}
				}
				before, peak := h.read()
				r := helperReport{Event: "report", HeapBefore: before, HeapPeak: peak,
					Served: m.Stats().SessionsServed, Sessions: m.Len(), CPU: h.cpuTimeline()}
				work.since(&r)
				_ = helperproc.Report(r)
			}
		}
		return nil
	case "joiner":
		donor, err := wire.ParseMemberText(os.Getenv("GOTRIBES_DELTA_DONOR"))
		if err != nil {
			return err
		}
		gcPercent, _ := strconv.Atoi(os.Getenv(transferGCEnv))
		m, err := cl.NewManager(delta.Config{Name: appName, JvmRoute: "j", ExpireInterval: -1, Logger: helperLog,
			StateTransferTimeout: 5 * time.Minute, TransferGCPercent: gcPercent})
		if err != nil {
			return err
		}
		// The donor must list this node before it is asked: announce it and wait.
		_ = helperproc.Report(helperReport{Event: "member", Member: wire.FormatMemberText(ch.LocalMember())})
		if !stdin.Scan() || stdin.Text() != "start" {
			return fmt.Errorf("joiner: expected start, got %q", stdin.Text())
		}
		if err := profile(); err != nil {
			return err
		}
		runtime.GC()
		h := newHeapSampler()
		work := readGCWork()
		if err := ms.Add(context.Background(), donor); err != nil {
			return err
		}
		start := time.Now()
		if err := m.Start(ctx); err != nil {
			return err
		}
		if err := m.WaitReady(ctx); err != nil {
			return err
		}
		elapsed := time.Since(start)
		if stopProfile != nil { // the transfer only, not the stop's expiry of every session
			stopProfile()
			stopProfile = nil
		}
		before, peak := h.read()
		cpu := h.cpuTimeline()
		h.close()
		r := helperReport{Event: "done", Sessions: m.Len(), TransferNs: elapsed.Nanoseconds(),
			HeapBefore: before, HeapPeak: peak, Transferred: m.Stats().SessionsTransferred,
			CPU: cpu, StartNs: start.UnixNano()}
		work.since(&r)
		runtime.GC()
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		r.HeapRetain = mem.HeapAlloc
		if prefix := os.Getenv(profileEnv); prefix != "" {
			if err := writeHeapProfile(prefix + role + ".mem.pprof"); err != nil {
				return err
			}
		}
		_ = helperproc.Report(r)
		for stdin.Scan() { // the benchmark reads /proc/PID/status, then closes stdin
		}
		return nil
	}
	return fmt.Errorf("unknown helper role %q", role)
}

// helperLog writes the helpers' warnings and lifecycle lines (a few per transfer) to
// stderr.
var helperLog = slog.New(slog.NewTextHandler(os.Stderr, nil))

// helperTB lets startTCPChannel run outside a test: failures panic, cleanups are the
// caller's (deferred).
type helperTB struct{ testing.TB }

func (helperTB) Helper()                   {}
func (helperTB) Cleanup(func())            {}
func (helperTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (helperTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// startHelper starts the donor or the joiner (role) with env added to its environment.
func startHelper(b *testing.B, role string, env ...string) *helperproc.Proc[helperReport] {
	b.Helper()
	return helperproc.Start[helperReport](b, helperproc.Config{Test: "TestDeltaHelperProcess",
		Env: append([]string{helperEnv + "=" + role}, env...), Name: role, MaxLine: 16 << 20})
}

// procStatus is procfs.Status, failing the benchmark on an error.
func procStatus(b *testing.B, pid int) map[string]uint64 {
	b.Helper()
	st, err := procfs.Status(pid)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// procStat is procfs.Stat, failing the benchmark on an error.
func procStat(b *testing.B, pid int) procfs.Times {
	b.Helper()
	t, err := procfs.Stat(pid)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// BenchmarkStateTransferProcesses transfers 100 000 and 1 000 000 sessions of one 1 KiB
// attribute each (sub-benchmarks sessions=N) from a donor process to a joining process over
// loopback TCP (transport/nio, the default chunks of 1000 sessions, each acknowledged after
// the joiner applied it, up to 3 unacknowledged at once). Per transfer:
//
//   - transfer-ms: the joiner's Manager.Start to ready (it asks at once: the donor is in
//     its static membership);
//   - joiner-cpu-ms: the CPU time (user and system, /proc/PID/stat) the joiner process
//     used up to ready, its start included; donor-cpu-ms: the CPU time the donor used
//     from before the joiner started until the joiner was ready. Their sum against
//     transfer-ms shows how much of the transfer ran in parallel on the two processes;
//   - joiner-MiB-VmHWM: the joiner's peak resident set, process start included;
//     joiner-MiB-heap-peak: its highest sampled heap in use; joiner-MiB-retained and
//     joiner-B/session: its heap after a GC once ready;
//   - donor-MiB-VmRSS: the donor's resident set before the transfer (it holds the
//     sessions); donor-MiB-VmHWM-rise: how far its peak resident set rose above that
//     during the transfer (VmHWM is reset before each transfer through
//     /proc/PID/clear_refs), donor-%-VmHWM-rise the same as a percentage of
//     donor-MiB-VmRSS; donor-MiB-heap-rise: the same for its sampled heap in use;
//   - donor-busy-%, joiner-busy-%, both-busy-%: the share of the transfer's 10 ms spans in
//     which the donor, the joiner, both used at least 2 ms of CPU (each process samples
//     its CPU time every 2 ms). both-busy-% near donor-busy-% × joiner-busy-% / 100 or
//     above: the two work at the same time; far below: they take turns;
//   - per session, for each process (joiner-, donor-): user-µs/session and sys-µs/session,
//     its CPU time in user and kernel mode (joiner: from its start command to ready;
//     donor: from before the joiner started until the joiner was ready);
//     faults/session, its minor page faults (first touches of new memory) over the same
//     span; gc-µs/session, the collector's CPU time as the runtime counts it (the time its
//     workers ran, which on a loaded machine includes time they waited for a CPU);
//     gc-cycles per transfer and allocs/session (heap objects) from the joiner's start to
//     ready, and for the donor from its reset to its report after the joiner left.
//
// The benchmark's own time per op includes starting the joiner process. The 1 000 000
// sessions need about 3 GiB in the donor and 2 GiB in the joiner:
//
//	go test -run '^$' -bench 'StateTransferProcesses/sessions=100000$' -benchtime 3x ./session/delta/
//	go test -run '^$' -bench 'StateTransferProcesses/sessions=1000000$' -benchtime 1x -timeout 30m ./session/delta/
func BenchmarkStateTransferProcesses(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc/PID/status")
	}
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) { benchStateTransfer(b, n, 1024) })
	}
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchStateTransfer(b *testing.B, n, size int) {
	donor := startHelper(b, "donor", fmt.Sprintf("GOTRIBES_DELTA_SESSIONS=%d", n), fmt.Sprintf("GOTRIBES_DELTA_SIZE=%d", size))
	ready := donor.Expect(b, "ready", 20*time.Minute)
	if ready.Sessions != n {
		b.Fatalf("donor holds %d sessions", ready.Sessions)
	}
	dpid := donor.Pid()
	var transfer, jCPU, dCPU, jHWM, jPeak, jRetain, dRSS, dHWMRise, dHeapRise float64
	var jWork, dWork procfs.Times // from the joiner's start command (donor: its reset) to ready
	var jGC, dGC helperReport     // the runtime's work over the same span (donor: up to its report)
	var busy overlap              // which process ran during each bin of the transfers
	iters := 0
	var served uint64
	b.SetBytes(int64(n * size))
	for b.Loop() {
		b.StopTimer()
		donor.Send(b, "reset")
		donor.Expect(b, "reset", time.Minute)
		if err := procfs.ResetPeakRSS(dpid); err != nil {
			b.Fatalf("resetting the donor's VmHWM: %v", err)
		}
		before := procStatus(b, dpid)
		d0 := procStat(b, dpid)
		b.StartTimer()
		j := startHelper(b, "joiner", "GOTRIBES_DELTA_DONOR="+ready.Member)
		jpid := j.Pid()
		jm := j.Expect(b, "member", time.Minute).Member
		donor.Send(b, "add "+jm)
		donor.Expect(b, "add", time.Minute)
		j0 := procStat(b, jpid)
		j.Send(b, "start")
		done := j.Expect(b, "done", 10*time.Minute)
		b.StopTimer()
		d1, j1 := procStat(b, dpid), procStat(b, jpid)
		dCPU += ms(d1.Sub(d0).CPU())
		jCPU += ms(j1.CPU())
		dWork, jWork = dWork.Add(d1.Sub(d0)), jWork.Add(j1.Sub(j0))
		jGC.GCCPUMs, jGC.GCCycles, jGC.Allocs = jGC.GCCPUMs+done.GCCPUMs, jGC.GCCycles+done.GCCycles, jGC.Allocs+done.Allocs
		if done.Sessions != n {
			b.Fatalf("joiner holds %d sessions: %+v", done.Sessions, done)
		}
		js := procStatus(b, j.Pid())
		j.Stop()
		donor.Send(b, "remove "+jm)
		donor.Expect(b, "remove", time.Minute)
		donor.Send(b, "report")
		rep := donor.Expect(b, "report", time.Minute)
		after := procStatus(b, dpid)
		if rep.Served-served != uint64(n) {
			b.Fatalf("donor served %d sessions", rep.Served-served)
		}
		served = rep.Served
		dGC.GCCPUMs, dGC.GCCycles, dGC.Allocs = dGC.GCCPUMs+rep.GCCPUMs, dGC.GCCycles+rep.GCCycles, dGC.Allocs+rep.Allocs
		busy.add(done.StartNs, done.StartNs+done.TransferNs, rep.CPU, done.CPU)
		transfer += float64(done.TransferNs) / 1e6
		jHWM += float64(js["VmHWM"])
		jPeak += float64(done.HeapPeak)
		jRetain += float64(done.HeapRetain)
		dRSS += float64(before["VmRSS"])
		dHWMRise += float64(after["VmHWM"]) - float64(before["VmRSS"])
		dHeapRise += float64(rep.HeapPeak) - float64(rep.HeapBefore)
		iters++
		b.StartTimer()
	}
	mib := func(v float64) float64 { return v / float64(iters) / (1 << 20) }
	b.ReportMetric(transfer/float64(iters), "transfer-ms")
	b.ReportMetric(jCPU/float64(iters), "joiner-cpu-ms")
	b.ReportMetric(dCPU/float64(iters), "donor-cpu-ms")
	b.ReportMetric(mib(jHWM), "joiner-MiB-VmHWM")
	b.ReportMetric(mib(jPeak), "joiner-MiB-heap-peak")
	b.ReportMetric(mib(jRetain), "joiner-MiB-retained")
	b.ReportMetric(jRetain/float64(iters)/float64(n), "joiner-B/session")
	b.ReportMetric(mib(dRSS), "donor-MiB-VmRSS")
	b.ReportMetric(mib(dHWMRise), "donor-MiB-VmHWM-rise")
	b.ReportMetric(100*dHWMRise/dRSS, "donor-%-VmHWM-rise")
	b.ReportMetric(mib(dHeapRise), "donor-MiB-heap-rise")
	busy.report(b)
	// Per session, the machine-independent side: CPU time in user and kernel mode, minor
	// page faults, the collector's CPU time and cycles, heap allocations.
	per := func(v float64) float64 { return v / float64(iters) / float64(n) }
	for _, p := range []struct {
		name string
		w    procfs.Times
		gc   helperReport
	}{{"joiner", jWork, jGC}, {"donor", dWork, dGC}} {
		b.ReportMetric(per(ms(p.w.User))*1000, p.name+"-user-µs/session")
		b.ReportMetric(per(ms(p.w.System))*1000, p.name+"-sys-µs/session")
		b.ReportMetric(per(float64(p.w.MinorFaults)), p.name+"-faults/session")
		b.ReportMetric(per(p.gc.GCCPUMs)*1000, p.name+"-gc-µs/session")
		b.ReportMetric(float64(p.gc.GCCycles)/float64(iters), p.name+"-gc-cycles")
		b.ReportMetric(per(float64(p.gc.Allocs)), p.name+"-allocs/session")
	}
}

// The benchmark's heap samples (runtime/metrics) measure what runtime.MemStats.HeapInuse
// does.
func TestHeapInuseIsMemStatsHeapInuse(t *testing.T) {
	keep := make([][]byte, 0, 1000)
	for i := range 1000 {
		keep = append(keep, make([]byte, 1024+i))
	}
	// Other goroutines (and the collector, sweeping) may change the heap between the two
	// reads: a measurement that differs is repeated; one that is wrong differs every time.
	samples := newHeapSamples()
	var ms runtime.MemStats
	var got uint64
	for range 20 {
		runtime.ReadMemStats(&ms)
		got = heapInuse(samples)
		if diff := int64(got) - int64(ms.HeapInuse); diff >= -1<<20 && diff <= 1<<20 {
			runtime.KeepAlive(keep)
			return
		}
	}
	t.Fatalf("runtime/metrics heap in use %d, MemStats.HeapInuse %d (20 tries)", got, ms.HeapInuse)
}
