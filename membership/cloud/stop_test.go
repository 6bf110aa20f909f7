package cloud

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
)

// stallingProvider lists this node and one other on its first fetch; from the second on
// it signals entered and waits for its context to end, then for release (a fetch under
// way when Stop comes, slow to give up), and fails with the context's error. Later
// fetches (a restart) list again.
type stallingProvider struct {
	calls   atomic.Int32
	stall   int32 // the fetch that stalls
	entered chan struct{}
	release chan struct{}
}

func newStallingProvider() *stallingProvider {
	return &stallingProvider{stall: 2, entered: make(chan struct{}), release: make(chan struct{})}
}

func (p *stallingProvider) Fetch(ctx context.Context) ([]Instance, error) {
	if p.calls.Add(1) == p.stall {
		close(p.entered)
		<-ctx.Done()
		<-p.release
		return nil, fmt.Errorf("%w: %w", ErrFetch, ctx.Err())
	}
	return []Instance{{IP: "10.0.0.1", UniqueID: [16]byte{1}}, {IP: "10.0.0.2", UniqueID: [16]byte{2}}}, nil
}

// healthLog records what a Service reports to its health function.
type healthLog struct {
	mu  sync.Mutex
	got []error
}

func (h *healthLog) report(err error) { h.mu.Lock(); h.got = append(h.got, err); h.mu.Unlock() }
func (h *healthLog) get() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.got...)
}

func newStallingService(t *testing.T, p *stallingProvider) (*Service, *healthLog) {
	t.Helper()
	s, err := New(Config{Custom: p, LookupEnv: NoEnv, LocalIP: "10.0.0.1", ReadTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	h := &healthLog{}
	s.SetHealthFunc(h.report)
	return s, h
}

// TestStopDuringHeartbeatFetchIsNoFailure: a heartbeat's fetch under way when Stop comes
// (the channel does not wait for a beat under way) is cut short by Stop. That is no
// failure of the source: nothing reaches the health function, which the channel has
// cleared at Stop and would otherwise show unhealthy while stopped.
func TestStopDuringHeartbeatFetchIsNoFailure(t *testing.T) {
	p := newStallingProvider()
	s, h := newStallingService(t, p)
	local := localMember("10.0.0.1", 4000, [16]byte{1})
	if err := s.Start(context.Background(), channel.SvcMembership, local, &recorder{}); err != nil {
		t.Fatal(err)
	}
	beat := make(chan struct{})
	go func() { defer close(beat); s.Heartbeat() }()
	<-p.entered
	if err := s.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	close(p.release)
	<-beat
	if got := h.get(); len(got) != 0 {
		t.Errorf("health reports after Stop cut a heartbeat's fetch short: %v, want none", got)
	}
}

// TestRestartDuringCancelledFetchFetchesAtStart: a Start right after a Stop that cut a
// heartbeat's fetch short asks the source at once, as every Start does, even though the
// cancelled fetch has not returned yet; that fetch's failure, when it returns, neither
// reaches the health function nor expires the new run's members.
func TestRestartDuringCancelledFetchFetchesAtStart(t *testing.T) {
	p := newStallingProvider()
	s, h := newStallingService(t, p)
	local := localMember("10.0.0.1", 4000, [16]byte{1})
	rec := &recorder{}
	if err := s.Start(context.Background(), channel.SvcMembership, local, rec); err != nil {
		t.Fatal(err)
	}
	beat := make(chan struct{})
	go func() { defer close(beat); s.Heartbeat() }()
	<-p.entered
	if err := s.Stop(context.Background(), channel.SvcMembership); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), channel.SvcMembership, local, rec); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background(), channel.SvcMembership)
	if n := p.calls.Load(); n != 3 {
		t.Errorf("%d fetches after the restart, want 3 (Start asks the source)", n)
	}
	if ms := s.Members(); len(ms) != 1 || ms[0].UniqueID != [16]byte{2} {
		t.Errorf("members right after the restart %v, want the other instance", ms)
	}
	close(p.release)
	<-beat
	if ms := s.Members(); len(ms) != 1 {
		t.Errorf("members after the cancelled fetch returned %v, want the other instance", ms)
	}
	if got := h.get(); len(got) != 0 {
		t.Errorf("health reports %v, want none", got)
	}
}
