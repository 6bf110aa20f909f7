package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/gotribes/tribes/internal/testenv"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/delta"
	"github.com/gotribes/tribes/session/redisstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// redisServer is a redis-server process the test started on a free loopback port.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

// startRedis starts redis-server on a free 127.0.0.1 port without persistence, waits
// until it answers and stops it (by PID) when the test ends. Without redis-server the
// test skips (fails under GOTRIBES_NO_SKIP).
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.Missing(t, "redis-server not installed: %v", err)
	}
	r := &redisServer{t: t, port: testutil.FreePorts(t, 1)[0]}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// start runs redis-server on r's port and waits until it answers PING.
func (r *redisServer) start() {
	t := r.t
	t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, io.Discard
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr(), MaxRetries: -1})
	defer c.Close()
	testutil.Eventually(t, testutil.WaitLimit, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Ping(ctx).Err()
	})
}

// stop kills the server by its PID and waits for it; it may be called more than once.
func (r *redisServer) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// client returns a go-redis client of r, closed when the test ends.
func (r *redisServer) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr(), DialTimeout: time.Second, ContextTimeoutEnabled: true,
		MaxRetries: -1})
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns a store on r's Redis with cfg's other fields.
func newStore(t *testing.T, r *redisServer, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	cfg.Client = r.client()
	if cfg.Name == "" {
		cfg.Name = "localhost#/app"
	}
	st, err := redisstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// counterHandler adds one to the session's "count" and answers "count=N" with the node's
// name in X-Node.
func counterHandler(node string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Node", node)
		rq := redisstore.FromContext(r.Context())
		s, err := rq.GetOrCreate()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n, err := s.Update("count", func(old any) (any, error) {
			c, _ := old.(int)
			return c + 1, nil
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "count=%d", n)
	})
}

// get sends a GET to url with the cookie (if any) and returns the status, body, the
// X-Node header and the session cookie the response set ("" if none).
func get(t *testing.T, c *http.Client, url, cookie string) (status int, body, node, setCookie string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "JSESSIONID", Value: cookie})
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "JSESSIONID" {
			setCookie = ck.Value
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header.Get("X-Node"), setCookie
}

// lookPath skips (or fails under GOTRIBES_NO_SKIP) when a program is missing.
func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, "%s not installed: %v", name, err)
	}
	return p
}

// savedSession makes a session in st with attribute name set to v, and saves it.
func savedSession(t *testing.T, st *redisstore.Store, name string, v any) *redisstore.Session {
	t.Helper()
	s := st.NewSession()
	if err := s.Set(name, v); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// storeState writes state, encoded as st stores it, under its id in r (as other
// software sharing the format, or an attacker, could), for a minute.
func storeState(t *testing.T, r *redisServer, st *redisstore.Store, state *delta.SessionState) {
	t.Helper()
	data, err := st.EncodeForTest(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.client().Set(context.Background(), st.Key(state.ID), data, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}

// loadUnlessCorrupt loads session id from st: nil if Load refuses it as ErrCorrupt, and
// a failed test for any other error.
func loadUnlessCorrupt(t *testing.T, st *redisstore.Store, id string) *redisstore.Session {
	t.Helper()
	s, err := st.Load(context.Background(), id)
	if err != nil {
		if !errors.Is(err, redisstore.ErrCorrupt) {
			t.Fatalf("load: %v, want ErrCorrupt", err)
		}
		return nil
	}
	return s
}
