package backup_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/jserial"
	"github.com/gotribes/tribes/session/backup"
)

// gate is an interceptor that, once armed, holds the next message sent through it that
// it was armed for until released (held is closed when it holds it); other messages
// pass, as do later ones.
type gate struct {
	channel.InterceptorBase
	mu          sync.Mutex
	match       func(data []byte) bool // the message to hold; nil when not armed
	held, after chan struct{}
}

func newGate() *gate { return &gate{held: make(chan struct{}), after: make(chan struct{})} }

// armDiff makes g hold the next diff of session id: a replicated map's MSG_BACKUP with
// its diff set, the message Replicate sends for a request's changes. Map pings and every
// other message pass.
func (g *gate) armDiff(id string) { g.armFor(func(data []byte) bool { return isDiffOf(data, id) }) }

// armCopy makes g hold the next whole copy of session id: a replicated map's MSG_BACKUP
// with its value and no diff, what the map sends the backup it picks when it publishes the
// session (a put, a takeover, a new backup). Proxies, pings and diffs pass.
func (g *gate) armCopy(id string) { g.armFor(func(data []byte) bool { return isCopyOf(data, id) }) }

func (g *gate) armFor(match func([]byte) bool) {
	g.mu.Lock()
	g.match = match
	g.mu.Unlock()
}

func (g *gate) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	g.mu.Lock()
	hold := g.match != nil && g.match(msg.Data)
	if hold {
		g.match = nil
	}
	g.mu.Unlock()
	if hold {
		close(g.held)
		<-g.after
	}
	return g.InterceptorBase.SendMessage(ctx, to, msg)
}

// The MapMessage's class and its MSG_BACKUP type (replmap/message.go).
const (
	mapMessageClass = "org.apache.catalina.tribes.tipis.AbstractReplicatedMap$MapMessage"
	msgBackup       = 1
)

// isDiffOf reports whether data is a replicated map's MSG_BACKUP carrying a diff of the
// session id (its key a serialization stream of the id).
func isDiffOf(data []byte, id string) bool { return isBackupOf(data, id, true) }

// isCopyOf reports whether data is a replicated map's MSG_BACKUP carrying the whole
// session id (not a diff): what the map publishes to a session's backup when it puts the
// session under a key, takes it over or gives it a new backup.
func isCopyOf(data []byte, id string) bool { return isBackupOf(data, id, false) }

// isBackupOf reports whether data is a replicated map's MSG_BACKUP of the session id
// (its key a serialization stream of the id) whose diff flag is diff.
func isBackupOf(data []byte, id string, diff bool) bool {
	v, err := jserial.Unmarshal(data)
	if err != nil {
		return false
	}
	o, ok := v.(*jserial.Object)
	if !ok || o.Class == nil || o.Class.Name != mapMessageClass {
		return false
	}
	field := func(name string) any { f, _ := o.Field(name); return f }
	if t, _ := field("msgtype").(int32); t != msgBackup {
		return false
	}
	if d, _ := field("diff").(bool); d != diff {
		return false
	}
	key, _ := field("keydata").([]byte)
	k, err := jserial.Unmarshal(key)
	return err == nil && k == any(id)
}

// TestStopDuringReplicate: the primary's manager stops (a rolling restart) while a
// request's diff is on its way to the backup. The backup takes the session over on the
// MSG_STOP (it republishes its copy, without the diff, to the third node) and the diff
// arrives after: the backup applies it but the third node's copy lacks it, and a client
// sent there loses the change. The request must not answer 200 for it: it answers 503,
// as every request does whose Replicate runs into Stop. Before, Replicate returned nil
// once the backup acknowledged the late diff, and the middleware answered 200.
//
// The backup refuses a map message of a member after its MSG_STOP, but only until the
// channel drops that member (or its new map starts): here the link between the two
// breaks and heals before the diff leaves, so the backup applies and acknowledges it,
// and only the manager's own check makes the request fail. (Refused, the diff's error
// alone would give the 503, and the test would not show that check.)
func TestStopDuringReplicate(t *testing.T) {
	g := newGate()
	nw := channeltest.NewNetwork()
	ms, nodes := startManagerNodesOn(t, nw, 3, backup.Config{DisableJvmRouteBinder: true}, map[int]channel.Interceptor{0: g})
	body, c := request(t, ms[0], "/", "")
	id := c.Value
	if body != id+" 1\n" {
		t.Fatalf("first request: %q", body)
	}
	b := backupOf(ms, id)
	if b <= 0 {
		t.Fatalf("no backup node of %s", id)
	}
	other := 3 - b
	h := ms[0].Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := backup.FromContext(r.Context()).Session()
		if err != nil || s == nil {
			http.Error(w, "no session", http.StatusInternalServerError)
			return
		}
		_ = s.Set("x", "acknowledged")
		g.armDiff(id) // the diff's send is held
		_, _ = w.Write([]byte("ok\n"))
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: backup.CookieName, Value: id})
	w := httptest.NewRecorder()
	served := make(chan struct{})
	go func() {
		defer close(served)
		h.ServeHTTP(w, r)
	}()
	select {
	case <-g.held:
	case <-served:
		t.Fatalf("the request ended before its diff was sent: %d %q", w.Code, w.Body)
	}
	stopErr := ms[0].Stop(context.Background())
	// The backup took the session over: the third node holds its copy, without the diff.
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the third node's copy", func() bool {
		_, _, ok := ms[other].Map().Peek(id)
		return ok
	})
	// The backup's channel drops the stopped node and lists it again: its MSG_STOP is
	// forgotten, and the late diff is applied.
	nw.Partition(nodes[0], nodes[b])
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the backup's channel drops n0", func() bool {
		return !slices.ContainsFunc(nodes[b].Membership().Members(), func(m channel.Member) bool {
			return m.Key() == nodes[0].Member().Key()
		})
	})
	nw.Heal(nodes[0], nodes[b])
	testutil.EventuallyTrue(t, testutil.WaitLimit, "the backup's channel lists n0 again", func() bool {
		return slices.ContainsFunc(nodes[b].Membership().Members(), func(m channel.Member) bool {
			return m.Key() == nodes[0].Member().Key()
		})
	})
	close(g.after)
	<-served
	if stopErr != nil {
		t.Fatalf("Stop: %v", stopErr)
	}
	s, err := ms[other].Find(context.Background(), id)
	if err != nil || s == nil {
		t.Fatalf("n%d: %v, %v", other, s, err)
	}
	_, kept, _ := s.Get("x")
	switch {
	case w.Code == http.StatusOK && !kept:
		t.Errorf("the request answered 200, and n%d serves the session without its change", other)
	case w.Code != http.StatusOK && w.Code != http.StatusServiceUnavailable:
		t.Errorf("the request: %d %q, want 503", w.Code, w.Body)
	}
}
