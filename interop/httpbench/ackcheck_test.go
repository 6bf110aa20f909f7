package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"
)

// fakeNode is a fake server of a side, on an httptest server.
type fakeNode struct{ srv *httptest.Server }

func (n fakeNode) name() string { return "fake" }
func (n fakeNode) url() string  { return n.srv.URL + "/app" }
func (n fakeNode) pid() int     { return os.Getpid() }

// TestAckedCheckReadsNode2Once: acked replication promises that node 2 holds the
// change when node 1 answers (TestEverySideServesTheCounter: "Acked replication returns
// once every member applied the change, so node 2 has the last counter"). So on an acked
// side the harness reads node 2 once right after the run, not polling for up to 10 s as
// for asynchronous replication: a node 1 that answers before node 2 holds the change
// (what asynchronous replication does, and what a broken acked mode would do, at a
// higher rate) must count its sessions stale. The fake node 2 is one change behind until
// it is first read, then catches up: one read sees it stale, a second read (polling)
// would not, whatever the machine's speed.
func TestAckedCheckReadsNode2Once(t *testing.T) {
	var mu sync.Mutex
	primary, replica := map[string]int{}, map[string]int{}
	node2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		ok := false
		if c, err := r.Cookie("JSESSIONID"); err == nil {
			mu.Lock()
			key := c.String()
			n, ok = replica[key]
			replica[key] = primary[key] // caught up for the next read
			mu.Unlock()
		}
		if !ok {
			http.Error(w, "no session", http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, "java.lang.Integer|%d\n", n)
	}))
	defer node2.Close()
	node1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var key string
		if c, err := r.Cookie("JSESSIONID"); err == nil {
			key = c.String()
		} else {
			var b [16]byte
			_, _ = rand.Read(b[:])
			c := &http.Cookie{Name: "JSESSIONID", Value: hex.EncodeToString(b[:])}
			http.SetCookie(w, c)
			key = c.String()
		}
		mu.Lock()
		primary[key]++
		n := primary[key]
		replica[key] = n - 1 // not acked: node 2 is one change behind when node 1 answers
		mu.Unlock()
		fmt.Fprintf(w, "%s %d\n", key, n)
	}))
	defer node1.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, exe: exe, opts: options{Conns: 2, Measure: 200 * time.Millisecond, Dir: t.TempDir()}}
	s := &side{config: cfgAcked, name: "go", nodes: []server{fakeNode{node1}, fakeNode{node2}}}
	m := h.measure(s, 0)
	if m.Load.Requests == 0 || m.Load.Errors != 0 || m.CheckErr != "" {
		t.Fatalf("the fake side did not serve: %+v", m)
	}
	if m.Stale == 0 {
		t.Errorf("node 2 got each session's last counter only a second after node 1 answered it, yet the acked measurement counts %d of %d sessions stale",
			m.Stale, len(m.Load.Sessions))
	}
}
