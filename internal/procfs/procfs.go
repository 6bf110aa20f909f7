// Package procfs reads what the benchmarks and tools report about a process from Linux's
// /proc: the memory fields of /proc/PID/status, its CPU time and context switches, and
// resets the peak resident set.
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

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

// CPU returns the CPU time (user and system, all threads) process pid has used, from
// /proc/PID/stat, in steps of 10 ms.
func CPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	_, rest, ok := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, data)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // fields 14 and 15: utime, stime in ticks
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, data)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
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
