package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/session/redisstore"
)

// saveGate holds the first save script a client sends until release is closed, and
// closes reached when it holds it: a test runs what it wants while the save is under
// way, before Redis runs it.
type saveGate struct {
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func newSaveGate() *saveGate {
	return &saveGate{reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *saveGate) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *saveGate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (g *saveGate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		// The save script is the one with four keys (redisstore.Store.Save).
		if args := cmd.Args(); len(args) > 2 && strings.HasPrefix(cmd.Name(), "eval") && args[2] == 4 {
			g.once.Do(func() {
				close(g.reached)
				<-g.release
			})
		}
		return next(ctx, cmd)
	}
}

// A session invalidated by another goroutine of the request (Request.Invalidate from a
// handler's goroutine) while its save runs ends with no session in Redis, and the save
// does not fail for it. A session never saved has no key to delete yet when Invalidate
// runs: its save used to write it all the same, a key no cookie named that stayed until
// its TTL ran out (30 minutes by default). A stored session's key is deleted first, and
// its save used to answer ErrConflict ("removed meanwhile"): the response to the request
// that logged out became a 409.
func TestInvalidateDuringSave(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	for _, stored := range []bool{false, true} {
		name := map[bool]string{false: "never saved", true: "stored"}[stored]
		t.Run(name, func(t *testing.T) {
			g := newSaveGate()
			c := redis.NewClient(&redis.Options{Addr: r.addr(), DialTimeout: time.Second, ContextTimeoutEnabled: true,
				MaxRetries: -1})
			t.Cleanup(func() { _ = c.Close() })
			st, err := redisstore.New(redisstore.Config{Client: c, Name: "localhost#/app"})
			if err != nil {
				t.Fatal(err)
			}
			s := st.NewSession()
			if err := s.Set("user", "alice"); err != nil {
				t.Fatal(err)
			}
			if stored {
				if err := st.Save(ctx, s); err != nil {
					t.Fatal(err)
				}
				if err := s.Set("user", "bob"); err != nil {
					t.Fatal(err)
				}
			}
			c.AddHook(g)
			saved := make(chan error, 1)
			go func() { saved <- st.Save(ctx, s) }()
			<-g.reached
			if err := st.Invalidate(ctx, s); err != nil {
				t.Fatalf("Invalidate: %v", err)
			}
			close(g.release)
			if err := <-saved; err != nil {
				t.Errorf("the save the invalidation overtook: %v, want nil (the invalidation wins)", err)
			}
			n, err := c.Exists(ctx, st.Key(s.ID())).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("key of the invalidated session %s still in Redis", s.ID())
			}
			if _, err := st.Load(ctx, s.ID()); !errors.Is(err, redisstore.ErrNotFound) {
				t.Errorf("Load of the invalidated session: %v, want ErrNotFound", err)
			}
		})
	}
}
