package redisstore_test

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gotribes/tribes/session/redisstore"
)

// Every node of the application runs the same: a store on the shared Redis and the
// middleware in front of the handlers. A balancer may send each request to any node.
// (Compiled, not run: it needs a Redis server; the package's tests start one.)
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	st, err := redisstore.New(redisstore.Config{
		Client:              rdb,
		Name:                "localhost#/shop", // the same on every node
		MaxInactiveInterval: 30 * time.Minute,  // the keys' TTL
	})
	if err != nil {
		log.Fatal(err)
	}
	mw, err := redisstore.NewMiddleware(st, redisstore.HTTPConfig{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/cart", func(w http.ResponseWriter, r *http.Request) {
		sess := redisstore.FromContext(r.Context())
		s, err := sess.GetOrCreate()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		n, err := s.Update("items", func(old any) (any, error) {
			c, _ := old.(int)
			return c + 1, nil
		})
		if err != nil { // a value too large, or not encodable
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Saved before this first byte leaves; if Redis fails, or a concurrent request
		// of the session saved first, the client gets 503 or 409 instead.
		fmt.Fprintf(w, "%d items\n", n)
	})
	srv := &http.Server{Addr: ":8080", Handler: mw.Wrap(mux), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
