package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gotribes/tribes/internal/freeport"
	"github.com/gotribes/tribes/internal/procfs"

	"github.com/gotribes/tribes/wire"
)

// clusterOpts are what an attack needs of its cluster.
type clusterOpts struct {
	mcast        bool // multicast membership on 127.0.0.1 instead of a static list
	encrypt      bool // the encrypt interceptor on every node
	targetNofile int  // RLIMIT_NOFILE of the target (0: unchanged)
	// staticProtocol runs Tribes' StaticMembershipService protocol (membership/staticsvc)
	// over the static list, instead of the silent list.
	staticProtocol bool
}

// suiteConfig is the shape of one run of the suite.
type suiteConfig struct {
	exe        string        // binary started (with nodeEnv set) for each node
	baseline   time.Duration // good traffic measured before each attack
	duration   time.Duration // length of each attack
	sessions   int           // sessions each node creates
	load       int           // acked messages a second from each good node to each other member
	firstFrame time.Duration // the nodes' nio FirstFrameTimeout
	frame      time.Duration // the nodes' nio FrameTimeout
}

// proc is one node process.
type proc struct {
	name, addr string
	id         wire.UniqueID
	args       []string
	cmd        *exec.Cmd
	ctrl       string
	logBytes   atomic.Int64
	exited     chan struct{}
	tail       tailWriter
}

// cluster is three node processes on loopback: nodes[0] is the target, A; B and C are the
// good peers sending the steady load.
type cluster struct {
	cfg   suiteConfig
	opts  clusterOpts
	nodes [3]*proc
	group string // multicast group:port with opts.mcast
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

// pickPorts picks the nodes' ports and returns the function that ends their reservation
// (a variable for the tests).
var pickPorts = freePorts

// freePorts picks n ports outside the kernel's range for outgoing connections, reserved
// against other processes of the project until release (internal/freeport).
func freePorts(n int) (ports []int, release func(), err error) {
	return freeport.Pick(n, freeport.TCP)
}

// startCluster starts A, B and C, has each create cfg.sessions sessions and waits until
// every node holds all of them. The nodes' ports are picked free and bound by the nodes
// a moment later. They are picked outside the kernel's range for outgoing connections and
// reserved against the project's other test processes (internal/freeport); a port that
// something else took meanwhile makes the node exit at start, and the cluster starts
// again on new ports, up to startAttempts times.
func startCluster(ctx context.Context, cfg suiteConfig, opts clusterOpts) (*cluster, error) {
	for attempt := 1; ; attempt++ {
		c, err := startClusterOnce(ctx, cfg, opts)
		if err == nil || attempt == startAttempts || !errors.Is(err, errPortTaken) {
			return c, err
		}
	}
}

// startAttempts bounds startCluster's tries when a picked port was taken.
const startAttempts = 3

// errPortTaken marks a node that exited at start because its port was no longer free.
var errPortTaken = errors.New("port taken before the node bound it")

func startClusterOnce(ctx context.Context, cfg suiteConfig, opts clusterOpts) (*cluster, error) {
	c := &cluster{cfg: cfg, opts: opts}
	ports, release, err := pickPorts(4)
	if err != nil {
		return nil, err
	}
	defer release() // the nodes bound their ports, or the cluster did not start
	for i, name := range []string{"A", "B", "C"} {
		p := &proc{name: name, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))}
		p.id[0], p.id[15] = byte(i+1), 0xaa
		c.nodes[i] = p
	}
	if opts.mcast {
		c.group = fmt.Sprintf("228.0.%d.%d:%d", ports[3]%200+1, ports[0]%200+1, 40000+ports[3]%20000)
	}
	key := "000102030405060708090a0b0c0d0e0f"
	for i, p := range c.nodes {
		args := []string{"--name", p.name, "--id", p.id.String(), "--port", strconv.Itoa(ports[i]),
			"--first-frame-timeout", cfg.firstFrame.String(), "--frame-timeout", cfg.frame.String()}
		var static []string
		for j, q := range c.nodes {
			if j != i {
				static = append(static, q.addr+":"+q.id.String())
			}
		}
		if opts.mcast {
			host, port, _ := net.SplitHostPort(c.group)
			args = append(args, "--mcast-addr", host, "--mcast-port", port)
		} else {
			args = append(args, "--static", strings.Join(static, ","))
			if opts.staticProtocol {
				args = append(args, "--static-protocol")
			}
		}
		if i > 0 {
			args = append(args, "--peers", strings.Join(static, ","), "--load", strconv.Itoa(cfg.load))
		} else if opts.targetNofile > 0 {
			args = append(args, "--nofile", strconv.Itoa(opts.targetNofile))
		}
		if opts.encrypt {
			args = append(args, "--interceptors", "encrypt(encryptionKey="+key+")")
		}
		p.args = args
	}
	for i := range c.nodes {
		if err := c.start(ctx, i); err != nil {
			c.stop()
			return nil, err
		}
	}
	if err := c.waitMembers(ctx); err != nil {
		err = fmt.Errorf("%w%s", err, c.logTails())
		c.stop()
		return nil, err
	}
	errs := make(chan error, 3)
	for _, p := range c.nodes {
		go func() {
			resp, err := httpClient.Post(fmt.Sprintf("http://%s/create?n=%d", p.ctrl, cfg.sessions), "", nil)
			if err == nil {
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("%s: create sessions: %s", p.name, resp.Status)
				}
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for range c.nodes {
		if err := <-errs; err != nil {
			c.stop()
			return nil, err
		}
	}
	if err := c.waitSessions(ctx, 20*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// start runs node i and waits for its control address.
func (c *cluster) start(ctx context.Context, i int) error {
	p := c.nodes[i]
	p.logBytes.Store(0)
	p.tail = tailWriter{}
	p.cmd = exec.Command(c.cfg.exe, p.args...)
	p.cmd.Env = append(os.Environ(), nodeEnv+"=1")
	p.cmd.Stderr = &countingWriter{n: &p.logBytes, tail: &p.tail}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case line := <-lines:
		var ev map[string]string
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev["ctrl"] == "" {
			return fmt.Errorf("node %s: unexpected line %q", p.name, line)
		}
		p.ctrl = ev["ctrl"]
		return nil
	case <-p.exited:
		tail := p.tail.String()
		if strings.Contains(tail, "address already in use") {
			return fmt.Errorf("node %s exited at start: %w: %s", p.name, errPortTaken, tail)
		}
		return fmt.Errorf("node %s exited at start: %s", p.name, tail)
	case <-time.After(15 * time.Second):
		return fmt.Errorf("node %s did not start", p.name)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restart stops node i (SIGTERM, SIGKILL after 5 s) and starts it again with the same
// arguments; its sessions come back by state transfer.
func (c *cluster) restart(ctx context.Context, i int) error {
	c.kill(i)
	if err := c.start(ctx, i); err != nil {
		return err
	}
	if err := c.waitMembers(ctx); err != nil {
		return err
	}
	return c.waitSessions(ctx, 20*time.Second)
}

func (c *cluster) kill(i int) {
	c.signal(i)
	c.reap(i)
}

// signal asks node i to stop; reap waits until it did, killing it after 5 s.
func (c *cluster) signal(i int) {
	if p := c.nodes[i]; p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
}

func (c *cluster) reap(i int) {
	p := c.nodes[i]
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// stop stops the three nodes at once.
func (c *cluster) stop() {
	for i := range c.nodes {
		c.signal(i)
	}
	for i := range c.nodes {
		c.reap(i)
	}
}

func (c *cluster) alive(i int) bool {
	select {
	case <-c.nodes[i].exited:
		return false
	default:
		return true
	}
}

func (c *cluster) stats(i int) (nodeStats, error) {
	var st nodeStats
	resp, err := httpClient.Get("http://" + c.nodes[i].ctrl + "/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// poll calls cond every 50 ms until it holds, the timeout passes or ctx ends.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("condition not met")
			}
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logTails is the end of every node's log, for an error.
func (c *cluster) logTails() string {
	var b strings.Builder
	for _, p := range c.nodes {
		fmt.Fprintf(&b, "\nnode %s log (end):\n%s", p.name, p.tail.String())
	}
	return b.String()
}

// waitMembers waits until every node sees the two others.
func (c *cluster) waitMembers(ctx context.Context) error {
	return poll(ctx, 15*time.Second, func() (bool, error) {
		for i := range c.nodes {
			st, err := c.stats(i)
			if err != nil || st.Members < 2 || !st.Ready {
				return false, fmt.Errorf("node %s: members %d ready %v %v", c.nodes[i].name, st.Members, st.Ready, err)
			}
		}
		return true, nil
	})
}

// waitSessions waits until every node holds the sessions of all three.
func (c *cluster) waitSessions(ctx context.Context, timeout time.Duration) error {
	want := 3 * c.cfg.sessions
	return poll(ctx, timeout, func() (bool, error) {
		for i := range c.nodes {
			st, err := c.stats(i)
			if err != nil || st.Sessions != want {
				return false, fmt.Errorf("node %s holds %d sessions, want %d (%v)", c.nodes[i].name, st.Sessions, want, err)
			}
		}
		return true, nil
	})
}

// delivered is how many load messages B and C have delivered so far: to the target A,
// and to each other.
func (c *cluster) delivered() (toTarget, between uint64) {
	for i := 1; i < 3; i++ {
		if st, err := c.stats(i); err == nil {
			toTarget += st.Delivered[c.nodes[0].addr]
			between += st.Delivered[c.nodes[3-i].addr]
		}
	}
	return toTarget, between
}

// toTarget is the first result of delivered.
func (c *cluster) toTarget() uint64 {
	n, _ := c.delivered()
	return n
}

// peakRSS is the target's VmHWM, in bytes; resetPeak sets it to the current RSS.
func (c *cluster) peakRSS() uint64 {
	st, err := procfs.Status(c.nodes[0].cmd.Process.Pid)
	if err != nil {
		return 0
	}
	return st["VmHWM"]
}

func (c *cluster) resetPeak() {
	_ = procfs.ResetPeakRSS(c.nodes[0].cmd.Process.Pid)
}

// countingWriter counts a node's log bytes and keeps their tail.
type countingWriter struct {
	n    *atomic.Int64
	tail *tailWriter
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return w.tail.Write(p)
}

// tailWriter keeps the last 4 KiB written.
type tailWriter struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = append(t.b[:0], t.b[len(t.b)-4096:]...)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
