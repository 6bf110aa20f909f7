// Package procfs reads what the benchmarks and tools report about a process from Linux's
// /proc: the memory fields of /proc/PID/status, and resets the peak resident set.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
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
