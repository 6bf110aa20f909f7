package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/session/redisstore"
)

// replyDropper is a TCP proxy in front of a redis-server that, once armed, forwards the
// next script call (EVALSHA or EVAL) to Redis, waits for Redis's reply and closes the
// client's connection instead of passing it on: the connection is lost after Redis ran
// the script, the case of a server restart or a network cut mid-request.
type replyDropper struct {
	ln      net.Listener
	backend string
	armed   atomic.Bool
	dropped chan struct{} // one value per dropped reply
	// between, if set before arming, runs after Redis answered the armed call and
	// before the connection is closed, so before go-redis sends the call again: a
	// competing request's turn.
	between func()

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newReplyDropper(t *testing.T, backend string) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyDropper{ln: ln, backend: backend, dropped: make(chan struct{}, 16)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *replyDropper) addr() string { return p.ln.Addr().String() }

// track records c to be closed by close; it reports false once the proxy is closed.
func (p *replyDropper) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *replyDropper) accept() {
	defer p.wg.Done()
	p.mu.Lock()
	p.conns = []net.Conn{}
	p.mu.Unlock()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", p.backend, 5*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		if !p.track(client) || !p.track(server) {
			_ = client.Close()
			_ = server.Close()
			return
		}
		var drop atomic.Bool // this connection's next reply is dropped
		p.wg.Add(2)
		go func() { // client to Redis
			defer p.wg.Done()
			defer server.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 {
					if bytes.Contains(bytes.ToLower(buf[:n]), []byte("eval")) && p.armed.CompareAndSwap(true, false) {
						drop.Store(true)
					}
					if _, werr := server.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // Redis to client
			defer p.wg.Done()
			defer client.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 {
					if drop.Load() {
						if p.between != nil {
							p.between()
						}
						p.dropped <- struct{}{}
						return // closes the client's connection: the reply is lost
					}
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

func (p *replyDropper) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// saveDropped runs st.Save(s) with the reply of its script lost once, and checks that
// the proxy did drop it.
func (p *replyDropper) saveDropped(t *testing.T, st *redisstore.Store, s *redisstore.Session) error {
	t.Helper()
	p.armed.Store(true)
	err := st.Save(context.Background(), s)
	select {
	case <-p.dropped:
	default:
		t.Fatal("the proxy dropped no reply: the test does not test the lost connection")
	}
	return err
}

// A save whose reply is lost with its connection (Redis applied the script) is resent
// by go-redis on a new connection, as its default MaxRetries does: the resent script
// finds its own write and reports success, for a new session, a changed one and an id
// change, instead of a 409-style ErrConflict for a change that is in Redis (a client
// retrying on that conflict would apply its change twice).
func TestSaveRetriedAfterLostReplyIsNoConflict(t *testing.T) {
	r := startRedis(t)
	p := newReplyDropper(t, r.addr())
	// The default retries of go-redis (MaxRetries 0 means 3), as in docs/store.md.
	rc := redis.NewClient(&redis.Options{Addr: p.addr(), DialTimeout: time.Second, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rc.Close() })
	st, err := redisstore.New(redisstore.Config{Client: rc, Name: "localhost#/app"})
	if err != nil {
		t.Fatal(err)
	}
	other := newStore(t, r, redisstore.Config{}) // reads Redis directly
	ctx := context.Background()
	if err := st.Save(ctx, st.NewSession()); err != nil { // loads the script: no NOSCRIPT below
		t.Fatal(err)
	}

	s := st.NewSession()
	if err := s.Set("count", 1); err != nil {
		t.Fatal(err)
	}
	if err := p.saveDropped(t, st, s); err != nil {
		t.Fatalf("save of a new session whose reply was lost: %v, want success", err)
	}
	if got, err := other.Load(ctx, s.ID()); err != nil || got.Version() != 1 {
		t.Fatalf("stored: %v, %v", got, err)
	}

	if err := s.Set("count", 2); err != nil {
		t.Fatal(err)
	}
	if err := p.saveDropped(t, st, s); err != nil {
		t.Fatalf("save of a changed session whose reply was lost: %v, want success", err)
	}
	got, err := other.Load(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := redisstore.Attr[int](got, "count"); n != 2 || got.Version() != 2 || s.Version() != 2 || s.Dirty() {
		t.Fatalf("stored count %d version %d; session version %d dirty %v", n, got.Version(), s.Version(), s.Dirty())
	}

	old := s.ID()
	if _, err := s.ChangeID(); err != nil {
		t.Fatal(err)
	}
	if err := p.saveDropped(t, st, s); err != nil {
		t.Fatalf("save of an id change whose reply was lost: %v, want success", err)
	}
	if got, err := other.Load(ctx, s.ID()); err != nil || got.Version() != 3 {
		t.Fatalf("under the new id: %v, %v", got, err)
	}
	if _, err := other.Load(ctx, old); err == nil {
		t.Fatal("the old id still holds the session")
	}

	// A genuine conflict is still one: a copy of version 3 saved by another request.
	stale, err := other.Load(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("count", 4); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := stale.Set("count", 40); err != nil {
		t.Fatal(err)
	}
	if err := other.Save(ctx, stale); err == nil {
		t.Fatal("a stale copy's save succeeded")
	}
}

// Two copies of one session loaded at the same version and changed alike (two requests
// that both count from 1 to 2) save equal sessions, often in the same millisecond: the
// second save still conflicts, as the stored value carries a random token of its save,
// and the save script's check for its own earlier run (above) does not take the first
// copy's write for its own (both requests would be told their increment was applied).
func TestEqualSavesOfTwoCopiesStillConflict(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	a, b := newStore(t, r, redisstore.Config{}), newStore(t, r, redisstore.Config{})
	s := a.NewSession()
	if err := s.Set("count", 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	for i := range 50 { // equal bytes need the same millisecond: try it often
		x, err := a.Load(ctx, s.ID())
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.Load(ctx, s.ID())
		if err != nil {
			t.Fatal(err)
		}
		n, _ := redisstore.Attr[int](x, "count")
		if err := x.Set("count", n+1); err != nil {
			t.Fatal(err)
		}
		if err := y.Set("count", n+1); err != nil {
			t.Fatal(err)
		}
		if err := a.Save(ctx, x); err != nil {
			t.Fatalf("round %d: first save: %v", i, err)
		}
		if err := b.Save(ctx, y); !errors.Is(err, redisstore.ErrConflict) {
			t.Fatalf("round %d: the second of two equal saves: %v, want ErrConflict", i, err)
		}
	}
}
