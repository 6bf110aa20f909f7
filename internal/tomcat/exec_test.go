package tomcat

import (
	"os/exec"
	"testing"
	"time"
)

// TestAwaitExec: catalina.sh's pid file names the shell it forked until that shell
// execs the JVM; alive took that window for an exited node (TestBackupManagerLargeMap
// failed once with "tomcat B exited" and an empty log). awaitExec waits out the window:
// a process that becomes this node's (its command line naming the base) only after a
// while is alive once awaitExec returns, and one that ends first is gone.
func TestAwaitExec(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct {
		name, script string
		alive        bool
	}{
		{"exec", `sleep 0.5; exec sh -c 'sleep 5' "-Dcatalina.base=$BASE"`, true}, // the base not in this command line
		{"exits", `sleep 0.5; exit 3`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tc.script)
			cmd.Env = append(cmd.Environ(), "BASE="+base)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			defer func() { _ = cmd.Process.Kill(); <-done }()
			n := &Node{Base: base, pid: cmd.Process.Pid}
			if n.alive() || n.gone() {
				t.Fatalf("before the exec: alive %v, gone %v, want neither", n.alive(), n.gone())
			}
			if tc.alive {
				if err := n.awaitExec(10 * time.Second); err != nil || !n.alive() {
					t.Fatalf("awaitExec: %v, alive %v, want the exec'd process alive", err, n.alive())
				}
				return
			}
			<-done // reaped: its pid names no process
			if err := n.awaitExec(10 * time.Second); err != nil || !n.gone() {
				t.Fatalf("awaitExec: %v, gone %v, want the process gone", err, n.gone())
			}
		})
	}
}
