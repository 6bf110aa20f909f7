package backup_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gotribes/tribes/session/backup"
)

// Two Go nodes run the manager of Tomcat's /app behind the counter page; a client's
// second request goes to the other node, which fetches the session from its backup.
// With transport/nio and Tomcat nodes running BackupManager for the same context, the
// code is the same.
func Example() {
	ctx := context.Background()
	chans, stop := startChannels(2, 0) // with transport/nio and a membership in real life
	defer stop()
	var managers []*backup.Manager
	for i, ch := range chans {
		m, err := backup.NewManager(backup.Config{Channel: ch, Name: "localhost#/app", JvmRoute: fmt.Sprint("go", i),
			CookiePath: "/app"})
		if err != nil {
			panic(err)
		}
		defer func() { _ = m.Stop(ctx) }()
		managers = append(managers, m)
	}
	for _, m := range managers {
		if err := m.Start(ctx); err != nil {
			panic(err)
		}
	}

	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := backup.FromContext(r.Context()).Create()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		n, _, _ := s.Get("counter") // a java.lang.Integer for Tomcat
		c, _ := n.(int)
		if err := s.Set("counter", c+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, c+1)
	})
	var cookie *http.Cookie
	for i := range 3 {
		r := httptest.NewRequest(http.MethodGet, "/app/counter", nil)
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		managers[i%2].Wrap(page).ServeHTTP(w, r)
		if c := w.Result().Cookies(); len(c) > 0 {
			cookie = c[0]
		}
		b, _ := io.ReadAll(w.Body)
		fmt.Printf("node %d: %s\n", i%2, strings.TrimSpace(string(b)))
	}
	// Output:
	// node 0: 1
	// node 1: 2
	// node 0: 3
}
