package counter_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/counter"
	"github.com/gotribes/tribes/session/delta"
)

func TestNextCountsPerSession(t *testing.T) {
	ctx := context.Background()
	tn := channeltest.NewNetwork().NewNode()
	ch, err := channel.New(channel.Config{Transport: tn.Transport(), Membership: tn.Membership(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Start(ctx, channel.SvcAll); err != nil {
		t.Fatal(err)
	}
	defer ch.Stop(ctx, channel.SvcAll)
	cl, err := delta.NewCluster(delta.ClusterConfig{Channel: ch})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close(ctx)
	m, err := cl.NewManager(delta.Config{Name: "localhost#/app", MemberWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	mw, err := delta.NewMiddleware(m, delta.HTTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, n, err := counter.Next(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s %d", s.ID(), n)
	}))
	get := func(c *http.Cookie) (*http.Cookie, string) {
		r := httptest.NewRequest(http.MethodGet, "/app/counter", nil)
		if c != nil {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if cs := w.Result().Cookies(); len(cs) > 0 {
			c = cs[0]
		}
		return c, w.Body.String()
	}
	a, body := get(nil)
	if want := a.Value + " 1"; body != want {
		t.Fatalf("first request: %q, want %q", body, want)
	}
	_, body = get(a)
	if want := a.Value + " 2"; body != want {
		t.Fatalf("second request: %q, want %q", body, want)
	}
	b, body := get(nil)
	if b.Value == a.Value || body != b.Value+" 1" {
		t.Fatalf("another session: cookie %q, %q", b.Value, body)
	}
	s := m.Find(a.Value)
	if n, ok := delta.Attr[int](s, counter.Attr); !ok || n != 2 {
		t.Fatalf("session %s holds %s = %d, %v", a.Value, counter.Attr, n, ok)
	}
}
