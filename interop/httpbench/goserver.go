package main

// The Go server processes the harness starts: this binary in the server role.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// goServer is a Go server process (this binary in the server role).
type goServer struct {
	cfg  serverConfig
	cmd  *exec.Cmd
	log  string
	addr string // where it serves HTTP
}

func (s *goServer) name() string {
	if s.cfg.Route != "" {
		return s.cfg.Kind + "-" + s.cfg.Route
	}
	return s.cfg.Kind
}
func (s *goServer) url() string { return "http://" + s.addr + "/app" }
func (s *goServer) pid() int    { return s.cmd.Process.Pid }

// goServers starts server processes at once and waits until each says it is ready. The
// first one to fail is reported at once, with its log and the state of the others (a
// cluster node waiting for its members fails only when its wait ends, and the cause may be
// a member that failed before it).
func (h *harness) goServers(cfgs ...serverConfig) []server {
	h.t.Helper()
	var out []*goServer
	ready := make(chan int, len(cfgs))
	errs := make([]error, len(cfgs))
	for i, cfg := range cfgs {
		s := &goServer{cfg: cfg}
		s.log = filepath.Join(h.opts.Dir, s.name()+".log")
		cfg.DeliverOnLoop = h.opts.DeliverOnLoop
		cfg.Engine = h.opts.Engine
		cfg.AckedBatchWait = h.opts.AckedBatchWait
		if h.opts.CPUProfile != "" {
			cfg.CPUProfile = filepath.Join(h.opts.CPUProfile, s.name()+".cpu.pprof")
		}
		if h.opts.Trace != "" {
			cfg.Trace, cfg.TraceAt = filepath.Join(h.opts.Trace, s.name()+".trace"), h.opts.TraceAt
		}
		cmd, stdout, err := h.child("server", cfg, s.log)
		if err != nil {
			h.t.Fatalf("starting %s: %v", s.name(), err)
		}
		s.cmd = cmd
		h.t.Cleanup(func() { stopChild(cmd) })
		go func() {
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err == nil {
				var ok bool
				if s.addr, ok = strings.CutPrefix(strings.TrimSpace(line), "ready "); !ok {
					err = fmt.Errorf("printed %q", line)
				}
			}
			errs[i] = err
			ready <- i
			_, _ = io.Copy(io.Discard, stdout)
		}()
		out = append(out, s)
	}
	done := make([]bool, len(out))
	timeout := time.After(120 * time.Second)
	for range out {
		select {
		case i := <-ready:
			done[i] = true
			if errs[i] != nil {
				h.t.Fatalf("%s did not start: %v\n%s", out[i].name(), errs[i], h.serverStates(out, done))
			}
		case <-timeout:
			h.t.Fatalf("not every server ready within 120 s\n%s", h.serverStates(out, done))
		}
	}
	servers := make([]server, len(out))
	for i, s := range out {
		servers[i] = s
	}
	return servers
}

// serverStates describes servers starting together, for a failure: which are ready, still
// starting or ended, and the log of each that is not ready.
func (h *harness) serverStates(out []*goServer, done []bool) string {
	var b strings.Builder
	for i, s := range out {
		state := "starting"
		switch {
		case done[i] && s.addr != "":
			fmt.Fprintf(&b, "%s: ready\n", s.name())
			continue
		case done[i]:
			state = "ended before it was ready"
		}
		log, _ := os.ReadFile(s.log)
		fmt.Fprintf(&b, "%s: %s; log:\n%s\n", s.name(), state, log)
	}
	return b.String()
}

// child starts this binary in a role with cfg; its stderr goes to the file logPath.
func (h *harness) child(role string, cfg any, logPath string) (*exec.Cmd, io.ReadCloser, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(h.exe)
	cmd.Env = h.childEnv(role, b)
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return cmd, stdout, nil
}

// childEnv is the environment of a child in role with the configuration cfg (JSON): this
// process's, and for a server the GODEBUG of --server-godebug, if set.
func (h *harness) childEnv(role string, cfg []byte) []string {
	env := append(os.Environ(), envRole+"="+role, envConfig+"="+string(cfg))
	if role == "server" && h.opts.ServerGODEBUG != "" {
		env = append(env, "GODEBUG="+h.opts.ServerGODEBUG) // exec.Cmd keeps the last of a name
	}
	return env
}

// stopChild sends SIGTERM and waits up to 15 s before SIGKILL.
func stopChild(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
