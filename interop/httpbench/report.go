package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// summary is one side over every run.
type summary struct {
	config, side string
	median       float64   // req/s
	runs         []float64 // req/s of each run
	errors       int
	stale        int // sessions behind on node 2, all runs
	checked      int // sessions checked on node 2, all runs
	checkErrs    []string
	rssMiB       []float64   // per node, the largest of the runs; -1: unknown in some run
	cpu, sw      [][]float64 // per process (nodes, then the load client), each run's CPU µs and context switches per request
	names        []string
}

// summarize groups the measurements by side, in the order of the first run.
func summarize(ms []measurement) []*summary {
	var out []*summary
	find := func(config, side string) *summary {
		for _, s := range out {
			if s.config == config && s.side == side {
				return s
			}
		}
		s := &summary{config: config, side: side}
		out = append(out, s)
		return s
	}
	for _, m := range ms {
		s := find(m.Config, m.Side)
		s.runs = append(s.runs, m.Load.ReqPerSec)
		s.errors += m.Load.Errors
		s.stale += m.Stale
		if len(m.RSS) > 1 {
			s.checked += len(m.Load.Sessions)
		}
		if m.CheckErr != "" {
			s.checkErrs = append(s.checkErrs, m.CheckErr)
		}
		s.cpu = appendPerProcess(s.cpu, m.Load.CPUPerReq)
		s.sw = appendPerProcess(s.sw, m.Load.SwitchesPerReq)
		for i, kib := range m.RSS {
			if i == len(s.rssMiB) {
				s.rssMiB = append(s.rssMiB, 0)
			}
			switch {
			case kib <= 0 || s.rssMiB[i] < 0: // rssKiB could not read it: the largest is unknown
				s.rssMiB[i] = -1
			default:
				s.rssMiB[i] = max(s.rssMiB[i], float64(kib)/1024)
			}
		}
	}
	for _, s := range out {
		s.median = median(s.runs)
	}
	return out
}

// fault says why the side did not do, in every run, all the work it claims, or "" if it
// did: failed requests (the rate counts the answered ones only), a node 2 that could not
// be read (replication unverified), or sessions behind on node 2. Stale copies count
// against every side but Tomcat's asynchronous one: its DeltaManager leaves some copies
// behind by design (a session's creation applied after its first delta) after sending
// every change, and a denominator that does less work only lowers Go's ratio.
func (s *summary) fault() string {
	switch {
	case s.errors > 0:
		return "errors"
	case len(s.checkErrs) > 0:
		return "node 2 unchecked"
	case s.stale > 0 && !(s.config == cfgAsync && s.side == "tomcat"):
		return "stale on node 2"
	}
	return ""
}

// appendPerProcess appends a run's figure of each process to that process's figures.
func appendPerProcess(per [][]float64, run []float64) [][]float64 {
	for i, v := range run {
		if i == len(per) {
			per = append(per, nil)
		}
		per[i] = append(per[i], v)
	}
	return per
}

// medians formats the median of each process's figures, "a / b / c (client d)", and
// their sum.
func medians(per [][]float64, format string) string {
	if len(per) == 0 {
		return "- | -"
	}
	parts := make([]string, len(per))
	total := 0.0
	for i, xs := range per {
		v := median(xs)
		total += v
		parts[i] = fmt.Sprintf(format, v)
	}
	last := len(parts) - 1
	return fmt.Sprintf("%s (client %s) | "+format, strings.Join(parts[:last], " / "), parts[last], total)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratio is one of issue 15's comparisons.
type ratio struct {
	name     string
	num, den [2]string // config, side
	target   string    // e.g. ">= 0.85", empty: no target
	min      float64
	strict   bool // target is "> min"
}

// meets reports whether v meets the ratio's target.
func (r ratio) meets(v float64) bool { return v >= r.min && (!r.strict || v > r.min) }

var ratios = []ratio{
	{"Go no-rep / bare handler", [2]string{cfgSingle, "go"}, [2]string{cfgSingle, "bare"}, ">= 0.85", 0.85, false},
	{"Go no-rep / Tomcat no-cluster", [2]string{cfgSingle, "go"}, [2]string{cfgSingle, "tomcat"}, "> 1", 1, true},
	{"scs / Go no-rep", [2]string{cfgSingle, "scs"}, [2]string{cfgSingle, "go"}, "", 0, false},
	{"Go async / Tomcat async", [2]string{cfgAsync, "go"}, [2]string{cfgAsync, "tomcat"}, ">= 2", 2, false},
	{"Go acked / Tomcat acked", [2]string{cfgAcked, "go"}, [2]string{cfgAcked, "tomcat"}, ">= 3", 3, false},
	{"Go async / Go no-rep", [2]string{cfgAsync, "go"}, [2]string{cfgSingle, "go"}, ">= 0.6", 0.6, false},
	{"Go acked / Go no-rep", [2]string{cfgAcked, "go"}, [2]string{cfgSingle, "go"}, ">= 0.6", 0.6, false},
	{"scs over scsstore, 3 nodes acked / scs memory store", [2]string{cfgSCSAcked, "scs"}, [2]string{cfgSingle, "scs"}, "", 0, false},
	{"mixed, load on Tomcat / all-Tomcat acked", [2]string{cfgMixed, "load on tomcat"}, [2]string{cfgAcked, "tomcat"}, "", 0, false},
	{"mixed, load on Go / all-Tomcat acked", [2]string{cfgMixed, "load on go"}, [2]string{cfgAcked, "tomcat"}, "", 0, false},
}

// runRatios returns num[i] / den[i] for every run both sides have (the sides of one run
// are measured one after the other, so a slow period of the machine weighs on both).
func runRatios(num, den []float64) []float64 {
	if len(num) != len(den) {
		return nil
	}
	var rs []float64
	for i := range num {
		if den[i] > 0 {
			rs = append(rs, num[i]/den[i])
		}
	}
	return rs
}

// report prints the sides' medians and the ratios as Markdown tables. A ratio is given
// twice: of the two sides' medians, and as the median of its value in each run; a target
// is met only when both meet it (on a noisy machine the medians of two sides can come
// from different runs and meet a target that no run met) and both sides did their work
// in every run (summary.fault: no failed request, node 2 checked and, but for Tomcat
// async, current). An RSS that could not be read is unknown and meets no target.
func report(w io.Writer, ms []measurement) {
	sums := summarize(ms)
	loads := make([]float64, 0, len(ms))
	for _, m := range ms {
		if l, err := strconv.ParseFloat(m.LoadAvg, 64); err == nil {
			loads = append(loads, l)
		}
	}
	if len(loads) > 0 {
		fmt.Fprintf(w, "1-minute load average after each measurement: %.1f to %.1f (median %.1f)\n\n",
			slices.Min(loads), slices.Max(loads), median(loads))
	}
	fmt.Fprintln(w, "| configuration | side | req/s (median) | runs | errors | stale on node 2 | RSS per node, MiB |")
	fmt.Fprintln(w, "|---|---|---:|---|---:|---:|---|")
	for _, s := range sums {
		runs := make([]string, len(s.runs))
		for i, r := range s.runs {
			runs[i] = fmt.Sprintf("%.0f", r)
		}
		rss := make([]string, len(s.rssMiB))
		for i, r := range s.rssMiB {
			rss[i] = fmt.Sprintf("%.0f", r)
			if r < 0 {
				rss[i] = "unknown"
			}
		}
		errs := fmt.Sprint(s.errors)
		if len(s.checkErrs) > 0 {
			errs += fmt.Sprintf(" (+%d failed checks: %s)", len(s.checkErrs), s.checkErrs[0])
		}
		stale := "-"
		if s.checked > 0 {
			stale = fmt.Sprintf("%d of %d", s.stale, s.checked)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %s |\n", s.config, s.side, s.median, strings.Join(runs, " "), errs, stale, strings.Join(rss, " / "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Per counted request, medians of the runs, for each node (load on the first) and the load client:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| configuration | side | CPU µs per node | CPU µs, all | context switches per node | switches, all |")
	fmt.Fprintln(w, "|---|---|---|---:|---|---:|")
	for _, s := range sums {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", s.config, s.side, medians(s.cpu, "%.1f"), medians(s.sw, "%.2f"))
	}
	get := func(k [2]string) *summary {
		for _, s := range sums {
			if s.config == k[0] && s.side == k[1] {
				return s
			}
		}
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| ratio | of the medians | per run: median (range) | target |")
	fmt.Fprintln(w, "|---|---:|---:|---|")
	for _, r := range ratios {
		num, den := get(r.num), get(r.den)
		if num == nil || den == nil {
			continue
		}
		value, perRun, spread := "-", "-", ""
		met := den.median > 0
		if met {
			v := num.median / den.median
			value, met = fmt.Sprintf("%.2f", v), r.meets(v)
		}
		if rs := runRatios(num.runs, den.runs); len(rs) > 0 {
			m := median(rs)
			perRun = fmt.Sprintf("%.2f", m)
			if len(rs) > 1 {
				spread = fmt.Sprintf(" (%.2f–%.2f)", slices.Min(rs), slices.Max(rs))
			}
			met = met && r.meets(m)
		}
		target := "-"
		if r.target != "" {
			target = r.target + map[bool]string{true: " met", false: " not met"}[met]
			// A side that did not do its work in some run makes the target not met,
			// whatever the rates.
			var why []string
			for _, s := range []*summary{num, den} {
				if f := s.fault(); f != "" {
					why = append(why, fmt.Sprintf("%s %s: %s", s.config, s.side, f))
				}
			}
			if len(why) > 0 {
				target = r.target + " not met (" + strings.Join(why, "; ") + ")"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s%s | %s |\n", r.name, value, perRun, spread, target)
	}
	// Memory: each Go node 1 against the Tomcat node 1 of the same configuration.
	for _, c := range []string{cfgSingle, cfgAsync, cfgAcked} {
		g, tc := get([2]string{c, "go"}), get([2]string{c, "tomcat"})
		if g == nil || tc == nil || len(g.rssMiB) == 0 || len(tc.rssMiB) == 0 {
			continue
		}
		if g.rssMiB[0] <= 0 || tc.rssMiB[0] <= 0 {
			fmt.Fprintf(w, "| RSS Go / Tomcat node 1, %s | unknown | - | <= 0.25 not met (RSS unknown) |\n", c)
			continue
		}
		v := g.rssMiB[0] / tc.rssMiB[0]
		fmt.Fprintf(w, "| RSS Go / Tomcat node 1, %s | %.2f | - | <= 0.25 %s |\n", c, v, map[bool]string{true: "met", false: "not met"}[v <= 0.25])
	}
}
