package backup_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/session/backup"
)

// TestConcurrentRequestsReplicateInOrder: two requests of one session on its primary
// set the same attribute, one after the other; the first one's diff is slow to leave
// (held here: the gate holds that diff, the session's MSG_BACKUP, and nothing else; map
// pings pass). The backup must end with the value the primary has, the second one's,
// which the second request's 200 acknowledged: a failover then serves it. Before, the
// second request took its diff and sent it while the first one's was still on its way;
// the first arrived last and the backup kept the older value.
func TestConcurrentRequestsReplicateInOrder(t *testing.T) {
	g := newGate()
	ms, _ := startManagerNodesWith(t, 2, backup.Config{DisableJvmRouteBinder: true}, map[int]channel.Interceptor{0: g})
	_, c := request(t, ms[0], "/", "")
	id := c.Value
	set := func(value string, arm bool) http.Handler {
		return ms[0].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, err := backup.FromContext(r.Context()).Session()
			if err != nil || s == nil {
				http.Error(w, "no session", http.StatusInternalServerError)
				return
			}
			_ = s.Set("x", value)
			if arm {
				g.armDiff(id) // this request's diff is held
			}
			_, _ = w.Write([]byte(value + "\n"))
		}))
	}
	serve := func(h http.Handler) (*httptest.ResponseRecorder, chan struct{}) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.ServeHTTP(w, r)
		}()
		return w, done
	}
	waiting := make(chan struct{}, 1)
	defer backup.SetReplicateWaitHook(func() {
		select { // never block the request: nothing may read a second signal
		case waiting <- struct{}{}:
		default:
		}
	})()
	w1, done1 := serve(set("first", true))
	select {
	case <-g.held: // the first request's diff, and only it, is held
	case <-done1:
		t.Fatalf("the first request ended before its diff was sent: %d %q", w1.Code, w1.Body)
	}
	w2, done2 := serve(set("second", false))
	select {
	case <-done2: // it sent its diff past the held one
	case <-waiting: // it waits for the held one
	}
	close(g.after)
	<-done1
	<-done2
	if w1.Code != http.StatusOK || w2.Code != http.StatusOK {
		t.Fatalf("requests: %d %q, %d %q", w1.Code, w1.Body, w2.Code, w2.Body)
	}
	v, _, ok := ms[0].Map().Peek(id)
	if !ok {
		t.Fatal("the primary holds no session")
	}
	onPrimary, _, _ := v.(*backup.Session).Get("x")
	if err := ms[0].Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	s, err := ms[1].Find(context.Background(), id)
	if err != nil || s == nil {
		t.Fatalf("failover: %v, %v", s, err)
	}
	if got, _, _ := s.Get("x"); got != "second" || onPrimary != "second" {
		t.Errorf("x: %v on the backup after the failover, %v on the primary before; want second, which the second request acknowledged", got, onPrimary)
	}
}
