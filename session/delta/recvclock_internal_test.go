package delta

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A batch's deltas take the clock read once for the batch as their sessions' access
// time, but not one before an access noted since: the access time does not go back.
func TestBatchClockDoesNotMoveAccessBack(t *testing.T) {
	nw, m := startLone(t, Config{})
	_, peer := nw.StartChannel(t)
	src := peer.LocalMember()
	if err := m.cl.receiveListed(context.Background(), src, keptBatch(t, m.cfg.Name, 0, 1, 1, true)); err != nil {
		t.Fatal(err)
	}
	s := m.st.get(fmt.Sprintf("%032X.peer", 0))
	if s == nil {
		t.Fatal("the batch made no session")
	}
	msgs, err := BinaryCodec{}.decodeBatch(keptBatch(t, m.cfg.Name, 0, 1, 4, false), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	noted := s.accessed
	s.mu.Unlock()
	// A batch that read the clock a minute before that access (received then, applied
	// after another connection's batch or a request here).
	m.cl.dispatch(context.Background(), msgs[0], src, noted-60_000)
	s.mu.Lock()
	got := s.accessed
	var v []byte
	if i := s.find("a"); i >= 0 {
		v = s.attrs[i].data
	}
	s.mu.Unlock()
	if got < noted {
		t.Errorf("last access %d after the delta, before the %d noted earlier: it went back", got, noted)
	}
	if string(v) != string([]byte{4, 0}) {
		t.Errorf("the delta was not applied: a is %v", v)
	}
}

// notifyOnce calls f at the first session created.
type notifyOnce struct {
	once sync.Once
	f    func(SessionEvent)
}

func (n *notifyOnce) SessionCreated(e SessionEvent) { n.once.Do(func() { n.f(e) }) }
func (*notifyOnce) SessionDestroyed(SessionEvent)   {}

// With a manager that has listeners, which run between a batch's messages and may take
// any time, each delta reads the clock: its session's access time is not the batch's.
func TestBatchClockAfterASlowListener(t *testing.T) {
	ctx := context.Background()
	var before, after int64
	slow := &notifyOnce{f: func(SessionEvent) {
		// A slow listener: it returns once the clock passed the batch's start by 100 ms.
		for nowMs() < before+100 {
			time.Sleep(time.Millisecond)
		}
		after = nowMs()
	}}
	nw, m := startLone(t, Config{SessionListeners: []SessionListener{slow}})
	_, peer := nw.StartChannel(t)
	src := peer.LocalMember()
	before = nowMs()
	if err := m.cl.receiveListed(ctx, src, keptBatch(t, m.cfg.Name, 0, 2, 1, true)); err != nil {
		t.Fatal(err)
	}
	s := m.st.get(fmt.Sprintf("%032X.peer", 1)) // the session made after the listener's wait
	if s == nil {
		t.Fatal("the batch's second delta made no session")
	}
	s.mu.Lock()
	got := s.accessed
	s.mu.Unlock()
	if after == 0 || got < after {
		t.Errorf("the second session's last access is %d, before the slow listener returned (%d): the batch's clock", got, after)
	}
}
