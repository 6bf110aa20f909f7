package backup_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/session/backup"
)

// holdSend is an interceptor that, once armed, holds the next message sent until
// release is closed (held is closed when it holds it).
type holdSend struct {
	channel.InterceptorBase
	armed         atomic.Bool
	held, release chan struct{}
}

func (h *holdSend) SendMessage(ctx context.Context, to []channel.Member, msg *channel.Message) error {
	if h.armed.CompareAndSwap(true, false) {
		close(h.held)
		<-h.release
	}
	return h.InterceptorBase.SendMessage(ctx, to, msg)
}

// splitSession makes a session of a cluster of 2 whose nodes each hold it as the
// other's backup, none its primary (A's Replicate of a change crossing a Find on B, the
// backup: two MSG_BACKUPs crossing, Java's behaviour too, as replmap's
// TestFetchTakeoverThenReplicateLeavesNoPrimary pins). B holds the change, which A's
// diff brought; A holds the value B published when its Find took the session over.
func splitSession(t *testing.T, ends *endLog) (ms []*backup.Manager, id string) {
	t.Helper()
	hold := &holdSend{held: make(chan struct{}), release: make(chan struct{})}
	released := false
	defer func() {
		if !released {
			close(hold.release)
		}
	}()
	ms, _ = startManagerNodesWith(t, 2, backup.Config{ExpireInterval: time.Hour, DisableJvmRouteBinder: true,
		NamedListener: ends.named}, map[int]channel.Interceptor{0: hold})
	a, b := ms[0], ms[1]
	s := createWithSSO(t, a, time.Minute)
	id = s.ID()
	if _, primary, ok := b.Map().Peek(id); !ok || primary {
		t.Fatalf("B holds the session: %v, primary %v; want its backup", ok, primary)
	}
	// A's Replicate of a change leaves A as its primary's diff; it waits on A's side.
	if err := s.Set("counter", 1); err != nil {
		t.Fatal(err)
	}
	hold.armed.Store(true)
	replicated := make(chan error, 1)
	go func() { replicated <- a.Replicate(context.Background(), id) }()
	select {
	case <-hold.held:
	case err := <-replicated:
		t.Fatalf("A's Replicate returned (%v) without sending", err)
	}
	// A Find on B, the backup, takes the session over: A becomes its backup.
	if got, err := b.Find(context.Background(), id); err != nil || got == nil {
		t.Fatalf("B's Find = %v, %v", got, err)
	}
	// A's diff, naming A the primary, then reaches B: B becomes A's backup.
	close(hold.release)
	released = true
	if err := <-replicated; err != nil {
		t.Fatalf("A's Replicate: %v", err)
	}
	for i, m := range ms {
		if _, primary, ok := m.Map().Peek(id); !ok || primary {
			t.Fatalf("node %d holds the session: %v, primary %v; want each node the other's backup", i, ok, primary)
		}
	}
	return ms, id
}

// A session left with no primary (splitSession) is neither expired nor lost by the
// expiry sweeps: each node sweeps it as a backup, which expires once idle for twice its
// interval, and a Find on B then takes it over with the change, A its backup again.
func TestSweepKeepsASessionLeftWithNoPrimary(t *testing.T) {
	var ends endLog
	ms, id := splitSession(t, &ends)
	later := time.Now().Add(90 * time.Second) // past the interval, within twice it
	for _, m := range ms {
		backup.Expire(m, later)
	}
	for i, m := range ms {
		if _, primary, ok := m.Map().Peek(id); !ok || primary {
			t.Errorf("node %d after the sweeps holds the session: %v, primary %v; want its backup still", i, ok, primary)
		}
	}
	if got := ends.got(); len(got) != 0 {
		t.Errorf("listeners told %q of the end of a session not idle for twice its interval", got)
	}
	a, b := ms[0], ms[1]
	got, err := b.Find(context.Background(), id)
	if err != nil || got == nil {
		t.Fatalf("B's Find after the sweeps = %v, %v", got, err)
	}
	if v, _, _ := got.Get("counter"); v != any(int32(1)) && v != any(1) {
		t.Errorf("the session found holds counter %#v, want 1", v)
	}
	if _, primary, ok := b.Map().Peek(id); !ok || !primary {
		t.Errorf("B after its Find holds the session: %v, primary %v; want the primary", ok, primary)
	}
	testutil.EventuallyTrue(t, testutil.WaitLimit, "A backs the session up", func() bool {
		_, primary, ok := a.Map().Peek(id)
		return ok && !primary
	})
}

// A session left with no primary (splitSession) and idle for more than twice its
// interval is expired by the first node's sweep and removed from both, its listeners
// told once; the other node's sweep finds nothing left.
func TestSweepExpiresASessionLeftWithNoPrimaryOnce(t *testing.T) {
	var ends endLog
	ms, id := splitSession(t, &ends)
	later := time.Now().Add(150 * time.Second)
	for _, m := range ms {
		backup.Expire(m, later)
	}
	checkNoneHolds(t, ms, 0, id)
	ends.checkToldExpired(t, id)
}
