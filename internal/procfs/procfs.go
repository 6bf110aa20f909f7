// Package procfs reads what the benchmarks and tools report about a process from Linux's
// /proc: the memory fields of /proc/PID/status, the CPU times and page faults of
// /proc/PID/stat, the context switches of its threads, and resets the peak resident set.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Status returns the fields of /proc/PID/status given in kB (VmRSS, VmHWM, ...), in
// bytes.
func Status(pid int) (map[string]uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		f := strings.Fields(v)
		if ok && len(f) == 2 && f[1] == "kB" {
			n, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
			}
			out[k] = n << 10
		}
	}
	return out, nil
}

// ResetPeakRSS sets the process's peak resident set (VmHWM) to its current one, through
// /proc/PID/clear_refs (the process must be this user's).
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// Times is what /proc/PID/stat tells of a process's work so far.
type Times struct {
	User, System time.Duration // CPU time in user and kernel mode
	MinorFaults  uint64        // page faults served without I/O (the first touch of new memory, mostly)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// Stat returns process pid's CPU times and minor page faults.
func Stat(pid int) (Times, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Times{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	i := strings.LastIndex(string(data), ") ")
	if i < 0 {
		return Times{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+2:]))
	if len(f) < 13 {
		return Times{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var v [3]uint64 // fields 10, 14 and 15: minflt, utime and stime (in ticks)
	for j, k := range []int{7, 11, 12} {
		if v[j], err = strconv.ParseUint(f[k], 10, 64); err != nil {
			return Times{}, fmt.Errorf("/proc/%d/stat: field %d: %w", pid, k+3, err)
		}
	}
	tick := time.Second / clockTicks
	return Times{User: time.Duration(v[1]) * tick, System: time.Duration(v[2]) * tick, MinorFaults: v[0]}, nil
}

// CPU is the CPU time in both modes.
func (t Times) CPU() time.Duration { return t.User + t.System }

// Sub returns the work done between o and t.
func (t Times) Sub(o Times) Times {
	return Times{User: t.User - o.User, System: t.System - o.System, MinorFaults: t.MinorFaults - o.MinorFaults}
}

// Add returns the sum of t and o (work of several spans).
func (t Times) Add(o Times) Times {
	return Times{User: t.User + o.User, System: t.System + o.System, MinorFaults: t.MinorFaults + o.MinorFaults}
}

// ContextSwitches returns the context switches (voluntary and involuntary) of the
// threads process pid has now, summed over /proc/PID/task/*/status: threads that
// exited are not counted.
func ContextSwitches(pid int) (uint64, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, t := range tasks {
		data, err := os.ReadFile(dir + "/" + t.Name() + "/status")
		if err != nil {
			continue // the thread exited meanwhile
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches" {
				c, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s/%s/status: %s: %w", dir, t.Name(), k, err)
				}
				n += c
			}
		}
	}
	return n, nil
}
