package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGoServersWriteRuntimeTraces runs the acked Go side briefly with --trace: each of
// its three servers wrote a runtime trace, a file in the format go tool trace reads.
func TestGoServersWriteRuntimeTraces(t *testing.T) {
	dir := t.TempDir()
	ms := run(t, options{Configs: []string{cfgAcked}, Runs: 1, Conns: 2, Measure: 300 * time.Millisecond,
		Dir: t.TempDir(), NoTomcat: true, Trace: dir, Log: logWriter{t}})
	if len(ms) != 1 || ms[0].Load.Requests == 0 || ms[0].Load.Errors != 0 {
		t.Fatalf("measurements %+v, want one of the acked side with requests and no errors", ms)
	}
	for _, name := range []string{"delta-k1", "delta-k2", "delta-k3"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".trace"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// A runtime trace starts with its header, "go 1.NN trace".
		if !bytes.HasPrefix(b, []byte("go 1.")) || !bytes.Contains(b[:min(len(b), 16)], []byte(" trace")) {
			t.Errorf("%s.trace starts %q, want a runtime trace's header", name, b[:min(len(b), 16)])
		}
	}
}

// TestServerGODEBUGIsTheServersOnly: --server-godebug sets GODEBUG, last in the
// environment (exec.Cmd keeps the last of a name), for the servers and not the load
// client; without it neither gets a GODEBUG of its own.
func TestServerGODEBUGIsTheServersOnly(t *testing.T) {
	const want = "GODEBUG=schedtrace=2147483647"
	h := &harness{opts: options{ServerGODEBUG: strings.TrimPrefix(want, "GODEBUG=")}}
	if env := h.childEnv("server", []byte("{}")); env[len(env)-1] != want {
		t.Errorf("server's environment ends %q, want %q", env[len(env)-1], want)
	}
	if env := h.childEnv("load", []byte("{}")); slices.Contains(env, want) {
		t.Errorf("load client's environment has %q", want)
	}
	plain := &harness{}
	for _, role := range []string{"server", "load"} {
		env := plain.childEnv(role, []byte("{}"))
		if n := len(env) - len(os.Environ()); n != 2 {
			t.Errorf("without --server-godebug the %s's environment adds %d variables to this process's, want 2 (role, config)", role, n)
		}
	}
}
