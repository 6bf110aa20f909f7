package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
)

// buildDemo builds the tribesdemo binary into a temporary directory, as a person would
// run it, and returns its path.
func buildDemo(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs it: not in -short mode")
	}
	goTool, err := exec.LookPath("go") // go test puts its own GOROOT/bin first in PATH
	if err != nil {
		testenv.Missing(t, "no go tool to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "tribesdemo")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tmuxServer is a private tmux server (its own socket, no configuration file) whose
// windows run commands as a person at a terminal would see them.
type tmuxServer struct{ sock string }

func newTmux(t *testing.T) *tmuxServer {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Missing(t, "tmux is not installed (scripts/install-test-deps.sh installs it): cannot test what a terminal shows")
	}
	dir, err := os.MkdirTemp("", "tmux") // short: a socket path is limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	x := &tmuxServer{sock: filepath.Join(dir, "s")}
	t.Cleanup(func() {
		_, _ = x.cmd("kill-server") // ends the windows' processes (and only ours: own socket)
		os.RemoveAll(dir)
	})
	return x
}

func (x *tmuxServer) cmd(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-S", x.sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	return string(out), err
}

// start runs argv in a new session (one window) of the given size. The wrapper shell
// prints "[exit N]" when the program ends and keeps the window open; it ignores Ctrl-C
// itself (trap) so that the program alone decides what an interrupt does.
func (x *tmuxServer) start(t *testing.T, name string, width, height int, argv ...string) {
	t.Helper()
	script := `trap : INT; "$@"; echo "[exit $?]"; exec sleep 600`
	args := []string{"new-session", "-d", "-s", name, "-x", strconv.Itoa(width), "-y", strconv.Itoa(height),
		"sh", "-c", script, "sh"}
	if out, err := x.cmd(append(args, argv...)...); err != nil {
		t.Fatalf("tmux new-session %s: %v: %s", name, err, out)
	}
}

// screen returns what the window shows now (wrapped lines joined, history included).
func (x *tmuxServer) screen(t *testing.T, name string) string {
	t.Helper()
	out, err := x.cmd("capture-pane", "-p", "-J", "-S", "-", "-t", name+":")
	if err != nil {
		t.Fatalf("capture-pane %s: %v: %s", name, err, out)
	}
	return out
}

// waitFor polls the window until re matches its screen and returns the screen. It fails
// at once if the program ended (the wrapper printed "[exit N]") without showing re.
func (x *tmuxServer) waitFor(t *testing.T, name string, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	var s string
	testutil.Eventually(t, timeout, func() error {
		s = x.screen(t, name)
		if re.MatchString(s) {
			return nil
		}
		if re != exitRE && exitRE.MatchString(s) {
			t.Fatalf("window %s: the program ended without showing %q:\n%s", name, re, s)
		}
		return fmt.Errorf("window %s: no %q; it shows:\n%s", name, re, s)
	})
	return s
}

var exitRE = regexp.MustCompile(`\[exit (\d+)\]`)

// TestTerminal runs the binary in tmux windows: the cluster demo from start to exit, then
// a node, a load run against it with its progress bar, and Ctrl-C on the node.
func TestTerminal(t *testing.T) {
	x := newTmux(t)
	bin := buildDemo(t)

	t.Run("cluster", func(t *testing.T) {
		x.start(t, "cluster", 120, 60, bin, "cluster", "--messages", "50", "--size", "100", "--seconds", "45")
		s := x.waitFor(t, "cluster", exitRE, 60*time.Second)
		if code := exitRE.FindStringSubmatch(s)[1]; code != "0" {
			t.Fatalf("cluster exit %s:\n%s", code, s)
		}
		// What a person sees whatever else the demo shows: the nodes start and join, and
		// node1 sends in each ack mode. (The delivered counts are not checked exactly:
		// messages without a synchronized ACK may still be on their way when one is printed.)
		for _, re := range []string{`(?m)^== starting 3 nodes on 127\.0\.0\.1`, `(?m)^\s+node1 listening on 127\.0\.0\.1:\d+`,
			`(?m)^\s+node1 sees node2 join`, `(?m)^\s+node3 sees node1 join`} {
			if !regexp.MustCompile(re).MatchString(s) {
				t.Errorf("the cluster screen lacks %s:\n%s", re, s)
			}
		}
		modes := regexp.MustCompile(`(?m)^\s+(\S+):\s+\d+ msgs/s .* delivered \d+/100 `).FindAllStringSubmatch(s, -1)
		if len(modes) != 3 {
			t.Errorf("want one line per ack mode, got %q:\n%s", modes, s)
		}
		if strings.Contains(s, "\x1b") || strings.Contains(s, "panic:") {
			t.Errorf("garbage on the screen:\n%s", s)
		}
	})

	t.Run("node-load-interrupt", func(t *testing.T) {
		const id = "0f0e0d0c0b0a09080706050403020100"
		x.start(t, "node", 200, 20, bin, "node", "--port", "0", "--id", id, "--quiet", "--seconds", "60")
		// On a terminal the node speaks text, not JSON.
		startedRE := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3}  started  (127\.0\.0\.1:\d+) id ([0-9a-f]{32})  uniqueId="\{[-0-9,]+\}"  \(Ctrl-C stops it\)$`)
		s := x.waitFor(t, "node", startedRE, 20*time.Second)
		m := startedRE.FindStringSubmatch(s)
		if m[2] != id || strings.Contains(s, `"event"`) {
			t.Fatalf("started screen:\n%s", s)
		}
		target := m[1] + ":" + id

		// A load long enough (by --seconds) to watch its bar move.
		x.start(t, "load", 100, 20, bin, "load", "--port", "0", "--static", target, "--count", "1000000",
			"--size", "100", "--seconds", "3")
		bar := regexp.MustCompile(`(\d+)% \[(#*)(\.*)\]\s+(\d+)/1000000\s+\d+ msgs/s\s+(\d+) failed\s+[\d.]+ s`)
		s = x.waitFor(t, "load", bar, 20*time.Second)
		// Watch it move: a later screen shows a larger count than the first.
		first, _ := strconv.Atoi(bar.FindStringSubmatch(s)[4])
		testutil.Eventually(t, 10*time.Second, func() error {
			s = x.screen(t, "load")
			if m := bar.FindStringSubmatch(s); m != nil {
				if n, _ := strconv.Atoi(m[4]); n > first {
					return nil
				}
			}
			return fmt.Errorf("the progress bar did not move from %d:\n%s", first, s)
		})
		s = x.waitFor(t, "load", exitRE, 30*time.Second)
		if code := exitRE.FindStringSubmatch(s)[1]; code != "0" {
			t.Fatalf("load exit %s:\n%s", code, s)
		}
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		// The screen ends with: the header line, the final bar at 100 %, the table, the reason.
		want := []*regexp.Regexp{
			regexp.MustCompile(`^load: 1000000 x 100 B to 127\.0\.0\.1:\d+; use_ack; 1 thread\(s\), at most 3s$`),
			regexp.MustCompile(`^\s*100% \[#+\]\s+\d+/1000000 .* 0 failed`),
			regexp.MustCompile(`^\s*sent\s+failed\s+time\s+msgs/s\s+MB/s\s+p50\s+p90\s+p99\s+max$`),
			regexp.MustCompile(`^\s*(\d+)\s+0\s+[\d.]+ s\s+\d+\s+[\d.]+\s+\d.*(µs|ms)\s*$`),
			regexp.MustCompile(`^stopped by --seconds after \d+ of 1000000 messages$`),
			exitRE,
		}
		var got []string
		for _, l := range lines {
			if strings.TrimSpace(l) != "" {
				got = append(got, l)
			}
		}
		if len(got) < len(want) {
			t.Fatalf("load screen:\n%s", s)
		}
		got = got[len(got)-len(want):]
		for i, re := range want {
			if !re.MatchString(got[i]) {
				t.Errorf("line %d of the load screen: %q does not match %q\n%s", i, got[i], re, s)
			}
		}
		sent, _ := strconv.Atoi(regexp.MustCompile(`^\s*(\d+)`).FindStringSubmatch(got[3])[1])
		if sent == 0 {
			t.Fatalf("nothing sent:\n%s", s)
		}

		// Ctrl-C on the node: it stops cleanly and reports what it received.
		if out, err := x.cmd("send-keys", "-t", "node:", "C-c"); err != nil {
			t.Fatalf("send-keys: %v %s", err, out)
		}
		s = x.waitFor(t, "node", exitRE, 20*time.Second)
		if code := exitRE.FindStringSubmatch(s)[1]; code != "0" {
			t.Fatalf("node exit %s after Ctrl-C:\n%s", code, s)
		}
		stopped := regexp.MustCompile(`stopped: received (\d+) messages \(\d+ bytes\), sent 0; peak memory [\d.]+ MiB`).FindStringSubmatch(s)
		if stopped == nil || stopped[1] != strconv.Itoa(sent) {
			t.Errorf("node's stopped line %q: want received %d\n%s", stopped, sent, s)
		}
	})
}

// TestBenchFanout runs `tribesdemo bench` (Go side only) with a fan-out row, 3 runs: the
// built binary starts 2 receivers, sends every message of that row to both and reports
// the median runs.
func TestBenchFanout(t *testing.T) {
	bin := buildDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "bench", "--java", "off", "--seconds", "1", "--sizes", "64",
		"--modes", "sync", "--fanout", "2", "--fanout-sizes", "128", "--runs", "3").Output()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	var rows []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[3] == "sync" {
			rows = append(rows, strings.Join(f[:4], " "))
		}
	}
	want := []string{"64 B 1 sync", "128 B 2 sync"}
	if !slices.Equal(rows, want) || strings.Contains(string(out), "error") || !strings.Contains(string(out), "median of 3 runs") {
		t.Fatalf("rows %q, want %q; output:\n%s", rows, want, out)
	}
}
