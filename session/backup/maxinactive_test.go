package backup_test

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gotribes/tribes/session/backup"
	"github.com/gotribes/tribes/session/delta"
)

// TestMaxInactiveZeroNeverExpires: a max inactive interval of 0 means "never expires" to
// Tomcat (Servlet: "zero or less indicates that the session should never timeout";
// DeltaSession.isValid and StandardSession.isValid only expire when
// maxInactiveInterval > 0). A session whose handler called SetMaxInactive(0)
// (session.setMaxInactiveInterval(0) in Tomcat's terms) stays on every node: it is not
// removed at its next request (Manager.Find) nor by a sweep.
func TestMaxInactiveZeroNeverExpires(t *testing.T) {
	ms := startManagers(t, 2, backup.Config{DisableJvmRouteBinder: true})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := backup.FromContext(r.Context())
		s, err := q.Create()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if r.URL.Path == "/forever" {
			s.SetMaxInactive(0) // session.setMaxInactiveInterval(0) in Tomcat's terms
		}
		n, _, _ := s.Get("counter")
		c, _ := n.(int)
		_ = s.Set("counter", c+1)
		fmt.Fprintln(w, s.ID(), c+1)
	})
	serve := func(m *backup.Manager, path, id string) string {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if id != "" {
			r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
		}
		w := httptest.NewRecorder()
		m.Wrap(h).ServeHTTP(w, r)
		return w.Body.String()
	}
	_, c := request(t, ms[0], "/", "")
	if c == nil {
		t.Fatal("no session")
	}
	id := c.Value
	if got, want := serve(ms[0], "/forever", id), id+" 2\n"; got != want {
		t.Fatalf("second request %q, want %q", got, want)
	}
	if got, want := serve(ms[0], "/", id), id+" 3\n"; got != want {
		t.Errorf("a session with max inactive interval 0 (never expires, for Tomcat) was removed: "+
			"next request got %q, want %q", got, want)
	}
	for i, m := range ms {
		if _, _, ok := m.Map().Peek(id); !ok {
			t.Errorf("node %d no longer holds the session", i)
		}
	}
}

// TestMaxInactiveZeroFromTomcat: a Tomcat node's diff may set the interval to 0 (what
// setMaxInactiveInterval(0) stores there): the session never expires here either, and
// its primary sends its backup no MSG_ACCESS for it (Tomcat's isAccessReplicate would,
// with every request: see AccessReplicate). The intervals set here travel in whole
// seconds: a positive one below a second becomes one second (it still expires), 0 or
// negative never.
func TestMaxInactiveZeroFromTomcat(t *testing.T) {
	s := backup.NewSession("S1.tc", time.Hour, backup.Limits{})
	d, err := delta.JavaCodec{}.EncodeDeltaRequest("S1.tc", []delta.Action{
		{Type: delta.ActionMaxInterval, Op: delta.OpSet, Value: binary.AppendVarint(nil, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyDiff(d); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(1000 * time.Hour)
	if s.MaxInactive() != 0 || s.Expired(later) {
		t.Errorf("interval 0 from Tomcat: MaxInactive %v, expired 1000 h later %v", s.MaxInactive(), s.Expired(later))
	}
	if s.AccessReplicate() {
		t.Error("a session that never expires asks for MSG_ACCESS")
	}

	if got := backup.NewSession("S2.go", 300*time.Millisecond, backup.Limits{}).MaxInactive(); got != time.Second {
		t.Errorf("NewSession with 300 ms: MaxInactive %v, want 1s", got)
	}
	s.SetMaxInactive(1500 * time.Millisecond)
	if s.MaxInactive() != time.Second || !s.Expired(later) {
		t.Errorf("SetMaxInactive(1.5 s): MaxInactive %v, expired 1000 h later %v", s.MaxInactive(), s.Expired(later))
	}
	s.SetMaxInactive(time.Millisecond)
	if s.MaxInactive() != time.Second {
		t.Errorf("SetMaxInactive(1 ms): MaxInactive %v, want 1s", s.MaxInactive())
	}
	s.SetMaxInactive(0)
	if s.MaxInactive() > 0 || s.Expired(later) {
		t.Errorf("SetMaxInactive(0): MaxInactive %v, expired 1000 h later %v", s.MaxInactive(), s.Expired(later))
	}
}
