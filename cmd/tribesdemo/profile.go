package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// profileFlags are --cpuprofile, --memprofile and --trace, the files a command writes its
// CPU profile, its allocations and its execution trace (go tool trace) to.
type profileFlags struct{ cpu, mem, trace *string }

func registerProfileFlags(fs *flag.FlagSet) profileFlags {
	return profileFlags{
		cpu: fs.String("cpuprofile", "", "write the process's CPU profile (pprof format) to this file, from start to stop"),
		mem: fs.String("memprofile", "", "record every allocation from start to stop and write them (pprof format, "+
			"go tool pprof -sample_index=alloc_objects) to this file; slows allocation down"),
		trace: fs.String("trace", "", "write the process's execution trace (go tool trace) to this file, from start to stop"),
	}
}

// start starts the profiles asked for and returns the function that stops them and closes
// their files.
func (p profileFlags) start() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	if *p.cpu != "" {
		f, err := os.Create(*p.cpu)
		if err != nil {
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("cpuprofile: %w", err)
		}
		stops = append(stops, func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	if *p.mem != "" {
		f, err := os.Create(*p.mem)
		if err != nil {
			stop()
			return nil, fmt.Errorf("memprofile: %w", err)
		}
		runtime.MemProfileRate = 1
		stops = append(stops, func() {
			runtime.GC() // the profile is as of the last collection
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		})
	}
	if *p.trace != "" {
		f, err := os.Create(*p.trace)
		if err != nil {
			stop()
			return nil, fmt.Errorf("trace: %w", err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return nil, fmt.Errorf("trace: %w", err)
		}
		stops = append(stops, func() {
			trace.Stop()
			f.Close()
		})
	}
	return stop, nil
}
