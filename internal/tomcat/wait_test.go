package tomcat

import (
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// roundTripFunc is an http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fatalTB records Wait's failure; its Fatalf ends the calling goroutine.
type fatalTB struct {
	mu    sync.Mutex
	fatal string
}

func (*fatalTB) Helper()                    {}
func (*fatalTB) Cleanup(func())             {}
func (f *fatalTB) Failed() bool             { f.mu.Lock(); defer f.mu.Unlock(); return f.fatal != "" }
func (*fatalTB) Logf(string, ...any)        {}
func (f *fatalTB) Skipf(s string, a ...any) { f.Fatalf(s, a...) }
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// TestWaitWithinItsBound: Wait's doc gave it 120 s, but each /health request had the
// client's 30 s of its own, so a request that Tomcat accepted and did not answer near the
// end (here: refused for 100 s, then hanging) took Wait to 130 s, and up to 150. Each
// request is now bounded by what is left of the 120 s.
func TestWaitWithinItsBound(t *testing.T) {
	base := t.TempDir()
	// A process whose command line names base, as the node's Tomcat does (alive).
	proc := exec.Command("sh", "-c", "read line", "-Dcatalina.base="+base)
	stdin, err := proc.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = proc.Wait()
	})
	const bound = 120 * time.Second // Wait's, as its doc says
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var late []time.Duration // requests' deadlines past Wait's bound
		old := client
		defer func() { client = old }()
		client = &http.Client{Timeout: 30 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if d, ok := r.Context().Deadline(); !ok || d.After(start.Add(bound)) {
				mu.Lock()
				late = append(late, d.Sub(start))
				mu.Unlock()
			}
			if time.Since(start) < 100*time.Second {
				return nil, errors.New("connection refused") // Tomcat still starting
			}
			<-r.Context().Done() // accepted, never answered
			return nil, r.Context().Err()
		})}
		n := &Node{Config: Config{Route: "t1"}, Base: base, URL: "http://127.0.0.1:1/app", pid: proc.Process.Pid}
		tb := &fatalTB{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			n.Wait(tb)
		}()
		<-done
		if !strings.Contains(tb.fatal, "not answering") {
			t.Errorf("Wait's failure: %q, want not answering", tb.fatal)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(late) > 0 {
			t.Errorf("%d requests with a deadline past Wait's %v, the last at %v", len(late), bound, late[len(late)-1])
		}
	})
}
