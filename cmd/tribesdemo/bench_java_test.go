package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gotribes/tribes/internal/javapeer"
)

// TestJavaReceiversOutliveTheBench: bench gives its Go receivers, the Java ping-pong
// server and its Java receiver nodes "--seconds <total>", the bench's whole time budget.
// Without it TribesPeer's default limit applies: the JVM halts after 600 s (hardLimit),
// and a bench longer than that (--runs up to 9, --seconds up to 60) loses its Java
// receivers halfway; the later Java rows then send to nobody. The test runs the smallest
// bench with Java and reads the Java receiver's command line.
func TestJavaReceiversOutliveTheBench(t *testing.T) {
	if reason, ok := javapeer.Available(); !ok {
		t.Skip(reason)
	}
	t.Setenv(childEnv, "1") // the bench's children are this test binary: behave as tribesdemo
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	found := make(chan []string, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if args := javaNodeChild(); args != nil {
				found <- args
				return
			}
		}
	}()
	var out, errOut bytes.Buffer
	err := runBench(ctx, []string{"--java", "on", "--sizes", "64", "--modes", "none", "--fanout", "0", "--seconds", "1", "--runs", "1"}, &out, &errOut)
	close(stop)
	if err != nil {
		t.Fatalf("bench: %v\n%s%s", err, out.String(), errOut.String())
	}
	var args []string
	select {
	case args = <-found:
	default:
		t.Fatalf("no Java receiver node seen among the children; bench printed:\n%s", out.String())
	}
	if !slices.Contains(args, "--seconds") {
		t.Errorf("the Java receiver node runs without --seconds, so TribesPeer halts it after 600 s whatever the bench's budget (the Go receivers get --seconds <budget>): node %q", args)
	}
}

// javaNodeChild returns the arguments after "node" of a child JVM of this process running
// TribesPeer node, or nil.
func javaNodeChild() []string {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := os.Getpid()
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		i := bytes.LastIndex(b, []byte(") "))
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) < 2 || f[1] != strconv.Itoa(me) {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join(filepath.Dir(st), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
		if j := slices.Index(args, javapeer.MainClass); j >= 0 && j+1 < len(args) && args[j+1] == "node" {
			return args[j+2:]
		}
	}
	return nil
}
