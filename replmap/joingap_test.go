package replmap_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gotribes/tribes/channel"
	"github.com/gotribes/tribes/channel/channeltest"
	"github.com/gotribes/tribes/internal/testutil"
	"github.com/gotribes/tribes/replmap"
)

// holdState is a joiner's interceptor that holds the state transfer's reply (the first
// received message carrying an ArrayList, after the donor took its snapshot) until
// released, and passes every other message on meanwhile.
type holdState struct {
	channel.InterceptorBase
	mu   sync.Mutex
	msg  *channel.Message
	held chan struct{}
}

func (h *holdState) MessageReceived(msg *channel.Message) error {
	h.mu.Lock()
	hold := h.msg == nil && bytes.Contains(msg.Data, []byte("java.util.ArrayList"))
	if hold {
		h.msg = msg
	}
	h.mu.Unlock()
	if hold {
		close(h.held)
		return nil
	}
	return h.InterceptorBase.MessageReceived(msg)
}

func (h *holdState) release() error { return h.InterceptorBase.MessageReceived(h.msg) }

// joinWithHeldState starts a map on a new node of nw whose state reply is held, runs
// during while it is held, then releases it and waits for Start.
func joinWithHeldState(t *testing.T, nw *channeltest.Network, members int, during func()) *node {
	t.Helper()
	return joinWithHeldStateConfig(t, nw, members, replmap.Config{}, func(*node) { during() })
}

func joinWithHeldStateConfig(t *testing.T, nw *channeltest.Network, members int, cfg replmap.Config, during func(joiner *node)) *node {
	t.Helper()
	h := &holdState{held: make(chan struct{})}
	joiner := newChannel(t, nw, h)
	testutil.EventuallyTrue(t, testutil.WaitLimit, "channel members", func() bool { return len(joiner.ch.Members()) == members })
	newMap(t, joiner, cfg)
	done := make(chan error, 1)
	go func() { done <- joiner.m.Start(ctx(t)) }()
	select {
	case <-h.held:
	case err := <-done:
		t.Fatalf("Start returned %v before the state reply came", err)
	}
	during(joiner)
	if err := h.release(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return joiner
}

// An entry put after the donor's snapshot, while the joiner waits for the state reply,
// is known on the joiner and gets there. Before, the members sent it nothing until they
// handled its MSG_START, sent after the transfer: the key was unknown there for good (a
// session a balancer sent there was lost). Meanwhile the joiner is the backup of one of
// the new entries, and another node's Get fetches the value from it before its state
// arrived.
func TestPutDuringStateTransfer(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	for i := range 4 {
		if _, err := nodes[i%2].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	joiner := joinWithHeldState(t, nw, 2, func() {
		// Two puts in a row: the second member of the first node (the joiner, from its
		// MSG_START on) backs one of them up, and the other node's Get fetches it there
		// while the joiner still waits for its state.
		for i := 4; i < 6; i++ {
			if _, err := nodes[0].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := 4; i < 6; i++ {
			if got := get(t, nodes[1], fmt.Sprint("k", i)); got != int32(i) {
				t.Fatalf("k%d on the other node = %#v", i, got)
			}
		}
	})
	if got := len(joiner.m.Keys()); got != 6 {
		t.Fatalf("joiner knows %d keys, want 6", got)
	}
	for i := range 6 {
		if got := get(t, joiner, fmt.Sprint("k", i)); got != int32(i) {
			t.Fatalf("k%d = %#v", i, got)
		}
	}
}

// An entry removed after the donor's snapshot, while the joiner waits for the state
// reply, is gone on the joiner once it started: the MSG_REMOVE it received meanwhile is
// applied after the state. Before, the joiner kept the entry the state brought, a proxy
// of a removed entry for good.
func TestRemoveDuringStateTransfer(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	for i := range 4 {
		if _, err := nodes[i%2].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
			t.Fatal(err)
		}
	}
	joiner := joinWithHeldState(t, nw, 2, func() {
		for _, k := range []string{"k0", "k1"} {
			if _, err := nodes[0].m.Remove(ctx(t), k); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, k := range []string{"k0", "k1"} {
		if _, ok, err := joiner.m.Get(ctx(t), k); ok || err != nil {
			t.Fatalf("%s on the joiner: ok=%v err=%v, want removed", k, ok, err)
		}
	}
	if got := len(joiner.m.Keys()); got != 2 {
		t.Fatalf("joiner knows %d keys, want 2", got)
	}
}

// The messages a joiner queues while it waits for its state are bounded by MaxEntries
// (and MaxMessageBytes of their data): beyond, a message is refused with ErrLimit as it
// comes, counted in Stats.RefusedOverLimit, and the joiner holds no more entries than the
// limit once it started.
func TestJoinQueueBounded(t *testing.T) {
	nw := channeltest.NewNetwork()
	nodes := cluster(t, nw, 2)
	const limit = 3
	joiner := joinWithHeldStateConfig(t, nw, 2, replmap.Config{MaxEntries: limit, RPCTimeout: time.Minute}, func(j *node) {
		for i := range 2 * limit {
			if _, err := nodes[0].m.Put(ctx(t), fmt.Sprint("k", i), int32(i)); err != nil {
				t.Logf("put k%d: %v", i, err)
			}
		}
		// Refused as they come, while the state is still held: not queued.
		testutil.EventuallyTrue(t, testutil.WaitLimit, "refusals while joining",
			func() bool { return j.m.Stats().RefusedOverLimit > 0 })
	})
	st := joiner.m.Stats()
	if st.RefusedOverLimit == 0 || st.Entries > limit {
		t.Fatalf("joiner stats %+v, want refusals and at most %d entries", st, limit)
	}
}
